"""Model builders whose kernel and bias initializers are arguments, so experiments vary only the start."""
import keras

from tlkeras import inits


def _initializer(spec, seed):
    # A scheme name gives a fresh initializer per layer, so layers never share the same random draw.
    return inits.get(spec, seed=seed) if isinstance(spec, str) else spec


def mlp(hidden=(256, 128, 100), activation="relu", kernel_initializer="glorot_uniform",
        bias_initializer="zeros", input_shape=(28, 28), num_classes=10, seed=0, name=None):
    """A multilayer perceptron: Flatten, Dense layers ``hidden_1..`` and a softmax layer ``output``."""
    if not hidden or any(int(units) < 1 for units in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive layer widths, got {hidden!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for index, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(
            int(units), activation=activation, name=f"hidden_{index}",
            kernel_initializer=_initializer(kernel_initializer, seed + index),
            bias_initializer=_initializer(bias_initializer, seed + 1000 + index),
        )(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="output",
        kernel_initializer=_initializer(kernel_initializer, seed),
        bias_initializer=_initializer(bias_initializer, seed + 1000),
    )(x)
    return keras.Model(inputs, outputs, name=name or "mlp")


def small_cnn(filters=(32, 64), dense=128, activation="relu", kernel_initializer="he_normal",
              bias_initializer="zeros", input_shape=(28, 28, 1), num_classes=10, seed=0, name=None):
    """A small CNN: ``conv_i`` (3x3) + max-pool blocks, global average pooling, ``dense_1``, ``output``."""
    if len(input_shape) != 3:
        raise ValueError(f"small_cnn expects input_shape (height, width, channels), got {input_shape!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for index, count in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            int(count), 3, padding="same", activation=activation, name=f"conv_{index}",
            kernel_initializer=_initializer(kernel_initializer, seed + index),
            bias_initializer=_initializer(bias_initializer, seed + 1000 + index),
        )(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{index}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(
        int(dense), activation=activation, name="dense_1",
        kernel_initializer=_initializer(kernel_initializer, seed + 100),
        bias_initializer=_initializer(bias_initializer, seed + 1100),
    )(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="output",
        kernel_initializer=_initializer(kernel_initializer, seed),
    )(x)
    return keras.Model(inputs, outputs, name=name or "small_cnn")


def deep_plain_net(depth, width, activation, kernel_initializer, bias_initializer="zeros",
                   input_shape=(28, 28), num_classes=10, seed=0):
    """A plain (no normalization, no skip connections) MLP with `depth` hidden layers of `width` units."""
    if int(depth) < 1 or int(width) < 1:
        raise ValueError(f"depth and width must be positive, got depth={depth!r}, width={width!r}")
    return mlp(
        hidden=[int(width)] * int(depth), activation=activation, kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer, input_shape=input_shape, num_classes=num_classes, seed=seed,
        name=f"plain_{activation}_{depth}x{width}",
    )
