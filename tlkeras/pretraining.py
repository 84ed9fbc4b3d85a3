"""Greedy layer-wise unsupervised pretraining (stacked autoencoders) and a perceptual (feature) loss.

Introduced in notebook 06. The layer-wise recipe follows Bengio, Lamblin, Popovici & Larochelle (2007),
who replaced the restricted Boltzmann machines of Hinton, Osindero & Teh (2006) with autoencoders; the
feature loss follows Johnson, Alahi & Fei-Fei (2016).
"""

import keras
import numpy as np

from tlkeras import inits, models


def _as_matrix(x):
    """Unlabelled data as a float32 matrix, one flattened example per row."""
    x = np.asarray(x, dtype="float32")
    if x.ndim < 2 or len(x) < 2:
        raise ValueError(f"expected at least 2 examples as an array of shape (n, ...), got shape {x.shape}")
    return x.reshape(len(x), -1)


def autoencoder(
    input_dim,
    units,
    activation="sigmoid",
    output_activation="linear",
    kernel_initializer="glorot_uniform",
    noise_stddev=0.0,
    seed=0,
    name=None,
):
    """A one-hidden-layer autoencoder on flat vectors: Dense ``encoder`` (`units`), then Dense ``decoder``.

    `kernel_initializer` is a `tlk.inits` scheme name (or an Initializer) for both layers. With ``noise_stddev > 0`` the input is corrupted with Gaussian noise during training only,
    which makes it a denoising autoencoder (Vincent et al., 2008).
    """
    if int(input_dim) < 1 or int(units) < 1:
        raise ValueError(f"input_dim and units must be positive, got {input_dim!r} and {units!r}")
    inputs = keras.Input(shape=(int(input_dim),), name="input")
    x = keras.layers.GaussianNoise(noise_stddev, seed=seed, name="noise")(inputs) if noise_stddev else inputs
    code = keras.layers.Dense(
        int(units), activation=activation, name="encoder", kernel_initializer=inits.get(kernel_initializer, seed=seed)
    )(x)
    outputs = keras.layers.Dense(
        int(input_dim),
        activation=output_activation,
        name="decoder",
        kernel_initializer=inits.get(kernel_initializer, seed=seed + 1),
    )(code)
    return keras.Model(inputs, outputs, name=name or "autoencoder")


def greedy_pretrain(
    x,
    sizes,
    activation="sigmoid",
    kernel_initializer="glorot_uniform",
    epochs=5,
    batch_size=128,
    learning_rate=1e-3,
    noise_stddev=0.0,
    validation_fraction=0.1,
    seed=0,
    verbose=0,
):
    """Greedy layer-wise pretraining: one autoencoder per hidden layer, each on the codes of the layers below.

    Layer 1 learns to reconstruct the (flattened) unlabelled inputs `x`; it is then frozen and its
    codes become the training data of layer 2, and so on. No labels are used anywhere. Every
    encoder starts from the very draw that ``tlk.models.mlp(kernel_initializer=..., seed=seed)`` gives its
    layer ``hidden_<i>``, so a pretrained net differs from that net only by this training. Introduced
    in notebook 06.

    Returns:
        (encoders, histories): the trained, frozen ``encoder`` Dense layers in order, and the
        reconstruction-loss History of each autoencoder (with a validation split).
    """
    if not sizes or any(int(units) < 1 for units in sizes):
        raise ValueError(f"sizes must be a non-empty sequence of positive layer widths, got {sizes!r}")
    codes = _as_matrix(x)
    encoders, histories = [], []
    for index, units in enumerate(sizes, start=1):
        model = autoencoder(
            codes.shape[1],
            units,
            activation=activation,
            kernel_initializer=kernel_initializer,
            noise_stddev=noise_stddev,
            seed=seed + index,  # the draw tlk.models.mlp(..., seed=seed) gives its layer hidden_<index>
            name=f"autoencoder_{index}",
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        history = model.fit(
            codes, codes, epochs=epochs, batch_size=batch_size, validation_split=validation_fraction, verbose=verbose
        )
        encoder = model.get_layer("encoder")
        encoder.trainable = False
        codes = keras.ops.convert_to_numpy(encoder(codes))  # the clean codes: noise is for training only
        encoders.append(encoder)
        histories.append(history)
    return encoders, histories


def load_encoders(model, encoders):
    """Copy pretrained encoder weights into `model`'s layers ``hidden_1``, ``hidden_2``, ... in place; returns `model`.

    Introduced in notebook 06 (through `pretrained_mlp`).
    """
    for index, encoder in enumerate(encoders, start=1):
        try:
            layer = model.get_layer(f"hidden_{index}")
        except ValueError:
            raise ValueError(
                f"model {model.name!r} has no layer 'hidden_{index}'; build it with "
                f"tlk.models.mlp(hidden=...) and at least {len(encoders)} hidden layers"
            ) from None
        weights = encoder.get_weights()
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [tuple(w.shape) for w in weights] != expected:
            raise ValueError(
                f"hidden_{index} has weight shapes {expected}, encoder {index} has "
                f"{[tuple(w.shape) for w in weights]}; the layer sizes must match"
            )
        layer.set_weights(weights)
    return model


def pretrained_mlp(
    encoders, kernel_initializer="glorot_uniform", input_shape=(28, 28), num_classes=10, seed=0, name="pretrained_mlp"
):
    """`tlk.models.mlp` with the encoders' sizes and activation, its hidden layers started from the encoders.

    Only the new softmax layer ``output`` uses `kernel_initializer`; all layers stay trainable, so
    ``fit`` fine-tunes the whole stack. Introduced in notebook 06.
    """
    if not encoders:
        raise ValueError("need at least one pretrained encoder layer (see greedy_pretrain)")
    sizes = [encoder.units for encoder in encoders]
    activation = encoders[0].get_config()["activation"]
    if any(encoder.get_config()["activation"] != activation for encoder in encoders):
        raise ValueError("all encoders must share one activation to fill a tlk.models.mlp")
    model = models.mlp(
        hidden=sizes,
        activation=activation,
        kernel_initializer=kernel_initializer,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=seed,
        name=name,
    )
    return load_encoders(model, encoders)


def perceptual_loss(extractor, pixel_weight=0.0):
    """A Keras loss: mean squared difference between `extractor`'s features of target and reconstruction.

    `extractor` is any model from images to one or more feature maps, such as
    ``tlk.models.submodel(loss_net, ["conv_1", "conv_2"])``; its weights are not trained by the loss.
    Targets and predictions are reshaped to the extractor's input shape, so flat 784-vectors work
    with a (28, 28, 1) network. Each layer's term is averaged over its units, then layers are
    averaged; ``pixel_weight`` adds that multiple of the plain pixel MSE. Returns one value per example.
    Introduced in notebook 06.
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
