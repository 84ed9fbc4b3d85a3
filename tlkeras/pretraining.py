"""Builders for greedy layer-wise pretraining (stacked autoencoders) and a perceptual (feature) loss.

Introduced in notebook 06, which writes the greedy loop itself (compile, fit, ``trainable = False`` per
layer). The layer-wise recipe follows Bengio, Lamblin, Popovici & Larochelle (2007), who replaced the
restricted Boltzmann machines of Hinton, Osindero & Teh (2006) with autoencoders; the feature loss
follows Johnson, Alahi & Fei-Fei (2016).
"""

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

    The encoder's kernel is the draw that ``tlk.models.mlp(kernel_initializer=..., seed=seed)`` gives its
    layer ``hidden_<index>``, so a pretrained encoder differs from that layer only by its training.
    `kernel_initializer` is a `tlk.inits` scheme name. With ``noise_stddev > 0`` the input is corrupted
    with Gaussian noise during training only: a denoising autoencoder (Vincent et al., 2008).
    """
    if int(input_dim) < 1 or int(units) < 1:
        raise ValueError(f"input_dim and units must be positive, got {input_dim!r} and {units!r}")
    inputs = keras.Input(shape=(int(input_dim),), name=f"input_{index}")
    x = keras.layers.GaussianNoise(noise_stddev, seed=seed, name=f"noise_{index}")(inputs) if noise_stddev else inputs
    code = keras.layers.Dense(
        int(units),
        activation=activation,
        name=f"encoder_{index}",
        kernel_initializer=inits.get(kernel_initializer, seed + index),
    )(x)
    outputs = keras.layers.Dense(
        int(input_dim),
        activation=output_activation,
        name=f"decoder_{index}",
        kernel_initializer=inits.get(kernel_initializer, seed + 2000 + index),
    )(code)
    return keras.Model(inputs, outputs, name=f"autoencoder_{index}")


def pretrained_mlp(encoders, input_shape=(28, 28), num_classes=10, seed=0, name="pretrained_mlp"):
    """`tlk.models.mlp` with the encoders' sizes and activation, its hidden layers started from the encoders.

    Only the new softmax layer ``output`` keeps its Glorot draw from `seed`; all layers are trainable,
    so ``fit`` fine-tunes the whole stack.
    """
    if not encoders:
        raise ValueError("need at least one pretrained encoder layer")
    activation = encoders[0].get_config()["activation"]
    if any(encoder.get_config()["activation"] != activation for encoder in encoders):
        raise ValueError("all encoders must share one activation to fill a tlk.models.mlp")
    model = models.mlp(
        hidden=[encoder.units for encoder in encoders],
        activation=activation,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=seed,
        name=name,
    )
    for index, encoder in enumerate(encoders, start=1):
        layer = model.get_layer(f"hidden_{index}")
        if layer.kernel.shape != encoder.kernel.shape:
            raise ValueError(
                f"hidden_{index} has kernel shape {tuple(layer.kernel.shape)} but encoder {index} has "
                f"{tuple(encoder.kernel.shape)}; each encoder's input must be the previous encoder's output"
            )
        layer.set_weights(encoder.get_weights())
    return model


def perceptual_loss(extractor, pixel_weight=0.0):
    """A Keras loss: mean squared difference between `extractor`'s features of target and reconstruction.

    `extractor` is any model from images to one or more feature maps, such as
    ``tlk.models.submodel(loss_net, ["conv_1", "conv_2"])``; its weights are not trained by the loss.
    Targets and predictions are reshaped to the extractor's input shape, so flat 784-vectors work
    with a (28, 28, 1) network. Each layer's term is averaged over its units, then layers are
    averaged; ``pixel_weight`` adds that multiple of the plain pixel MSE. Returns one value per example.
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
