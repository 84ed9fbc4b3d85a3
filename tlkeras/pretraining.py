"""Builders for notebook 06: autoencoders for greedy layer-wise pretraining (Bengio et al. 2007; the notebook writes
the loop itself), an MLP started from the pretrained encoders, and a perceptual loss (Johnson et al. 2016)."""

import keras

from tlkeras import inits, models


def autoencoder(
    input_dim,
    units,
    activation="sigmoid",
    output_activation="linear",
    kernel_initializer="glorot_uniform",
    noise_stddev=0.0,
    seed=0,
    index=1,
):
    """A one-hidden-layer autoencoder on flat vectors: Dense ``encoder_<index>``, then Dense ``decoder_<index>``.

    The encoder's kernel is the draw ``tlk.models.mlp(kernel_initializer=..., seed=seed)`` gives its layer
    ``hidden_<index>``, so a pretrained encoder differs from that layer only by its training. With
    ``noise_stddev > 0`` the input is corrupted during training only: a denoising autoencoder (Vincent et al. 2008).
    """
    if int(input_dim) < 1 or int(units) < 1:  # Keras 3.10-3.11 would build a zero-width layer without a word
        raise ValueError(f"input_dim and units must be positive, got {input_dim} and {units}")
    inputs = keras.Input(shape=(int(input_dim),), name=f"input_{index}")
    x = keras.layers.GaussianNoise(noise_stddev, seed=seed, name=f"noise_{index}")(inputs) if noise_stddev else inputs
    code = keras.layers.Dense(
        int(units), activation, name=f"encoder_{index}", kernel_initializer=inits.get(kernel_initializer, seed + index)
    )(x)
    decoder_init = inits.get(kernel_initializer, seed + 2000 + index)
    outputs = keras.layers.Dense(
        int(input_dim), output_activation, name=f"decoder_{index}", kernel_initializer=decoder_init
    )(code)
    return keras.Model(inputs, outputs, name=f"autoencoder_{index}")


def pretrained_mlp(encoders, input_shape=(28, 28), num_classes=10, seed=0, name="pretrained_mlp"):
    """`tlk.models.mlp` with the encoders' sizes and activation, its hidden layers started from the encoders; only
    the softmax layer ``output`` keeps its draw from `seed`. All layers are trainable: ``fit`` fine-tunes the stack.
    """
    if not encoders:
        raise ValueError("need at least one pretrained encoder layer")
    activation = encoders[0].get_config()["activation"]
    if any(encoder.get_config()["activation"] != activation for encoder in encoders):
        raise ValueError("all encoders must share one activation to fill a tlk.models.mlp")
    hidden = [encoder.units for encoder in encoders]
    model = models.mlp(hidden, activation, input_shape=input_shape, num_classes=num_classes, seed=seed, name=name)
    for index, encoder in enumerate(encoders, start=1):  # Keras refuses an encoder that does not fit the one below
        model.get_layer(f"hidden_{index}").set_weights(encoder.get_weights())
    return model


def perceptual_loss(extractor, pixel_weight=0.0):
    """A Keras loss, one value per example: mean squared difference between `extractor`'s features of target and
    reconstruction, averaged over each layer's units, then over layers, plus ``pixel_weight`` x the pixel MSE.

    `extractor` is a model from images to one or more feature maps, such as
    ``tlk.models.submodel(loss_net, ["conv_1", "conv_2"])``; the loss does not train it. Targets and predictions
    are reshaped to its input shape, so flat 784-vectors work with a (28, 28, 1) network.
    """
    input_shape = tuple(extractor.input_shape[1:])
    if pixel_weight < 0:
        raise ValueError(f"pixel_weight must be >= 0, got {pixel_weight!r}")

    def loss(y_true, y_pred):
        true_images = keras.ops.reshape(y_true, (-1,) + input_shape)
        pred_images = keras.ops.reshape(y_pred, (-1,) + input_shape)
        true_features = extractor(true_images, training=False)
        pred_features = extractor(pred_images, training=False)
        if not isinstance(true_features, (list, tuple)):
            true_features, pred_features = [true_features], [pred_features]
        terms = [
            keras.ops.mean(keras.ops.square(keras.ops.reshape(a - b, (keras.ops.shape(a)[0], -1))), axis=1)
            for a, b in zip(true_features, pred_features)
        ]
        total = keras.ops.mean(keras.ops.stack(terms, axis=0), axis=0)
        if pixel_weight:
            pixels = keras.ops.reshape(true_images - pred_images, (keras.ops.shape(true_images)[0], -1))
            total = total + pixel_weight * keras.ops.mean(keras.ops.square(pixels), axis=1)
        return total

    loss.__name__ = "perceptual_loss"
    return loss
