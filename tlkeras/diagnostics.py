"""Per-layer activation and gradient statistics for one batch: where signals grow, shrink or die.

Introduced in notebook 01 (after Glorot & Bengio 2010); `layer_gradients` and `summarize` are used in 06.
"""

import keras
import numpy as np

_WEIGHTED = (keras.layers.Dense, keras.layers.Conv2D)


def _weighted_layers(model):
    layers = [layer for layer in model.layers if isinstance(layer, _WEIGHTED)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no Dense or Conv2D layers to inspect")
    return layers


def layer_activations(model, x):
    """Outputs (after the activation function) of every Dense/Conv2D layer for batch `x`, by layer name."""
    layers = _weighted_layers(model)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outputs = probe(np.asarray(x, dtype="float32"), training=False)
    return {layer.name: keras.ops.convert_to_numpy(out) for layer, out in zip(layers, outputs)}


def layer_gradients(model, x, y):
    """Gradient of the mean sparse categorical cross-entropy w.r.t. each Dense/Conv2D kernel, by layer name."""
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError("layer_gradients uses tf.GradientTape; run with KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    layers = _weighted_layers(model)
    kernels = [layer.kernel for layer in layers]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(np.asarray(y), model(np.asarray(x, dtype="float32"), training=True))
    grads = tape.gradient(loss, [kernel.value for kernel in kernels])
    return {layer.name: grad.numpy() for layer, grad in zip(layers, grads)}


def summarize(arrays):
    """One row per layer: mean, std, mean |value| and the fraction of exact zeros."""
    rows = []
    for name, values in arrays.items():
        values = np.asarray(values, dtype="float64")
        rows.append(
            {
                "layer": name,
                "mean": float(values.mean()),
                "std": float(values.std()),
                "abs_mean": float(np.abs(values).mean()),
                "zero_fraction": float((values == 0).mean()),
            }
        )
    return rows


def dead_unit_fraction(activations):
    """Fraction of units (last axis) that output exactly 0 for every example in the batch."""
    values = np.asarray(activations)
    per_unit = values.reshape(-1, values.shape[-1])
    return float(np.all(per_unit == 0, axis=0).mean())
