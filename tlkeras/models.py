"""Model builders whose initializers are arguments, sub-models, copies, new heads and first-convolution surgery."""

import keras

from tlkeras import inits


def _initializer(spec, seed):
    # A scheme name gives a fresh initializer per layer, so layers never share the same random draw.
    return inits.get(spec, seed=seed) if isinstance(spec, str) else spec


def mlp(
    hidden=(256, 128, 100),
    activation="relu",
    kernel_initializer="glorot_uniform",
    bias_initializer="zeros",
    input_shape=(28, 28),
    num_classes=10,
    seed=0,
    name=None,
):
    """A multilayer perceptron: Flatten, Dense layers ``hidden_1..`` and a softmax layer ``output``. Notebook 01."""
    if not hidden or any(int(units) < 1 for units in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive layer widths, got {hidden!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    layers = [(f"hidden_{index}", int(units), activation, seed + index) for index, units in enumerate(hidden, start=1)]
    for layer_name, units, layer_activation, layer_seed in [*layers, ("output", num_classes, "softmax", seed)]:
        x = keras.layers.Dense(
            units,
            activation=layer_activation,
            name=layer_name,
            kernel_initializer=_initializer(kernel_initializer, layer_seed),
            bias_initializer=_initializer(bias_initializer, layer_seed + 1000),
        )(x)
    return keras.Model(inputs, x, name=name or "mlp")


def small_cnn(filters=(32, 64), dense=128, num_classes=10, seed=0, name=None):
    """A small CNN for 28 x 28 gray images: ``conv_i`` (3x3, ReLU, He normal) + max-pool blocks, global
    average pooling, ``dense_1``, ``output``. Notebook 04."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = inputs
    for index, count in enumerate(filters, start=1):
        he_normal = keras.initializers.HeNormal(seed=seed + index)
        x = keras.layers.Conv2D(
            int(count), 3, padding="same", activation="relu", name=f"conv_{index}", kernel_initializer=he_normal
        )(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{index}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(
        int(dense), activation="relu", name="dense_1", kernel_initializer=keras.initializers.HeNormal(seed=seed + 100)
    )(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="output", kernel_initializer=keras.initializers.HeNormal(seed=seed)
    )(x)
    return keras.Model(inputs, outputs, name=name or "small_cnn")


def deep_plain_net(depth, width, activation, kernel_initializer, seed=0):
    """A plain (no normalization, no skip connections) MLP with `depth` hidden layers of `width` units, like the
    30-layer ReLU net of He et al. (2015). Notebook 01."""
    hidden = [int(width)] * int(depth)  # mlp refuses an empty or zero-width `hidden`
    return mlp(hidden, activation, kernel_initializer, seed=seed, name=f"plain_{activation}_{depth}x{width}")


def submodel(model, layer_names):
    """A model from `model`'s inputs to the output of layer `layer_names` (a name, or a list of names), sharing
    `model`'s weights."""
    names = [layer.name for layer in model.layers]
    wanted = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    missing = [name for name in wanted if name not in names]
    if not wanted or missing:
        raise ValueError(f"unknown layer names {missing or wanted!r}; {model.name!r} has {names}")
    outputs = [model.get_layer(name).output for name in wanted]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs[0] if isinstance(layer_names, str) else outputs, name=f"{model.name}_upto")


def clone(model, **clone_model_kwargs):
    """An independent copy of `model`: ``keras.models.clone_model`` (new layers; keyword arguments passed on),
    then `model`'s weights copied in."""
    copy = keras.models.clone_model(model, **clone_model_kwargs)
    copy.set_weights(model.get_weights())
    return copy


def new_head(feature_shape, num_classes=2, dropout=0.3, hidden=None, seed=0):
    """A new top for a frozen backbone: [Dense(hidden, relu)], Dropout, Dense logits.

    It returns logits (one unit for two classes, else `num_classes`): compile it with ``from_logits=True``.
    """
    inputs = keras.Input(tuple(feature_shape), name="features")
    x = inputs
    if hidden:
        x = keras.layers.Dense(
            int(hidden),
            activation="relu",
            name="head_hidden",
            kernel_initializer=keras.initializers.HeNormal(seed=seed),
        )(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    units = 1 if num_classes == 2 else int(num_classes)
    outputs = keras.layers.Dense(
        units, name="head_logits", kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)
    )(x)
    return keras.Model(inputs, outputs, name="head")


def first_conv(model):
    """The first Conv2D layer whose kernel reads three input channels (notebook 05, modality transfer)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel.shape[-2] == 3:
            return layer
    raise ValueError(f"{model.name} has no Conv2D reading 3 channels")


def single_channel(model):
    """A copy of `model` taking 1-channel input: the first convolution's RGB kernels summed into one.

    conv(g, w_r + w_g + w_b) = conv([g, g, g], [w_r, w_g, w_b]), so on a gray image the copy equals the
    original on that image copied into three channels. Notebook 05.
    """
    conv = first_conv(model)
    height, width = model.input_shape[1:3]
    clone = keras.models.clone_model(model, input_tensors=keras.Input((height, width, 1)))
    for old, new in zip(model.layers, clone.layers):
        weights = old.get_weights()
        if old is conv:
            weights[0] = weights[0].sum(axis=2, keepdims=True)
        new.set_weights(weights)
    return clone
