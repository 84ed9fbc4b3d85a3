"""Named weight-initialization schemes, a serializable sparse initializer, and re-initialization.

Introduced in notebook 01 (the schemes compared on one MLP); `reinitialize` in notebook 04.
"""

import math
import random

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="tlkeras")
class SparseInitializer(keras.initializers.Initializer):
    """Each unit gets exactly `k` non-zero incoming weights drawn from N(0, stddev^2); all others are 0.

    Sparse initialization after Martens (2010, "Deep learning via Hessian-free optimization", ICML, sec. 5):
    each unit sees k = 15 randomly chosen inputs whatever the fan-in. Martens drew them from a unit Gaussian;
    the default ``stddev=1/sqrt(k)`` is this course's choice, so that Var(output) = Var(input) (notebook 01).
    Works for Dense kernels (fan_in, units) and convolution kernels (..., in_channels, filters).
    """

    def __init__(self, k=15, stddev=None, seed=None):
        if int(k) < 1:
            raise ValueError(f"k must be a positive number of connections per unit, got {k!r}")
        if stddev is not None and float(stddev) <= 0:
            raise ValueError(f"stddev must be positive, got {stddev!r}")
        self.k = int(k)
        self.stddev = None if stddev is None else float(stddev)
        self.seed = int(seed) if seed is not None else random.randrange(2**31)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(size) for size in shape)
        if len(shape) < 2:
            raise ValueError(f"sparse initialization needs a kernel of rank >= 2, got shape {shape}")
        units = shape[-1]
        fan_in = int(np.prod(shape[:-1]))
        k = min(self.k, fan_in)
        stddev = self.stddev if self.stddev is not None else 1.0 / math.sqrt(k)
        rng = np.random.default_rng(self.seed)
        weights = np.zeros((fan_in, units), dtype="float32")
        for unit in range(units):
            rows = rng.choice(fan_in, size=k, replace=False)
            weights[rows, unit] = rng.normal(0.0, stddev, size=k)
        return keras.ops.convert_to_tensor(weights.reshape(shape), dtype=dtype or "float32")

    def get_config(self):
        return {"k": self.k, "stddev": self.stddev, "seed": self.seed}


def _variance_scaling(scale, distribution):
    return lambda seed: keras.initializers.VarianceScaling(
        scale=scale, mode="fan_in", distribution=distribution, seed=seed
    )


# name -> (factory(seed) -> Initializer, one-line description shown in the notebooks)
SCHEMES = {
    "zeros": (lambda seed: keras.initializers.Zeros(), "all weights 0"),
    "ones": (lambda seed: keras.initializers.Ones(), "all weights 1"),
    "uniform": (lambda seed: keras.initializers.RandomUniform(0.0, 1.0, seed=seed), "U(0, 1)"),
    # U(-a, a) has variance a^2/3, so a = 1/sqrt(n) gives Var = 1/(3n): variance scaling with scale 1/3
    # (Glorot & Bengio 2010, eq. 1), a factor sqrt(3) smaller in std than LeCun's 1/n.
    "general_rule": (_variance_scaling(1.0 / 3.0, "uniform"), "U(-1/sqrt(n), 1/sqrt(n)), n = fan_in"),
    "normal_fan_in": (_variance_scaling(1.0, "untruncated_normal"), "N(0, std=1/sqrt(n)), n = fan_in"),
    "small_random": (lambda seed: keras.initializers.RandomNormal(0.0, 0.01, seed=seed), "0.01 * N(0, 1)"),
    "lecun_normal": (lambda seed: keras.initializers.LecunNormal(seed=seed), "truncated N, Var = 1/fan_in"),
    "lecun_uniform": (lambda seed: keras.initializers.LecunUniform(seed=seed), "U, Var = 1/fan_in"),
    "glorot_uniform": (lambda seed: keras.initializers.GlorotUniform(seed=seed), "U, Var = 2/(fan_in+fan_out)"),
    "glorot_normal": (lambda seed: keras.initializers.GlorotNormal(seed=seed), "truncated N, Var = 2/(fan_in+fan_out)"),
    "he_normal": (lambda seed: keras.initializers.HeNormal(seed=seed), "truncated N, Var = 2/fan_in"),
    "he_uniform": (lambda seed: keras.initializers.HeUniform(seed=seed), "U, Var = 2/fan_in"),
    "sparse": (lambda seed: SparseInitializer(k=15, seed=seed), "15 inputs per unit from N(0, 1/15), rest 0"),
}


def get(name, seed=None):
    """A fresh Keras initializer for scheme `name` (see `SCHEMES`); an Initializer passes through."""
    if isinstance(name, keras.initializers.Initializer):
        return name
    if name not in SCHEMES:
        raise ValueError(f"Unknown initialization scheme {name!r}; valid names: {', '.join(SCHEMES)}")
    return SCHEMES[name][0](seed)


def describe(name):
    """The one-line description of scheme `name` (notebook 01 prints them as a table)."""
    get(name)  # validates the name
    return SCHEMES[name][1]


def _fresh_value(layer, variable, seed):
    # Keras keeps a variable's initializer as <name>_initializer (kernel, bias, gamma, moving_mean, ...), except
    # depthwise_kernel's and pointwise_kernel's (depthwise_, pointwise_initializer) and DepthwiseConv2D's kernel's.
    name = variable.name.removesuffix("_kernel")
    initializer = getattr(layer, f"{name}_initializer", None)
    if initializer is None and name == "kernel":
        initializer = getattr(layer, "depthwise_initializer", None)
    if initializer is None:
        initializer = keras.initializers.GlorotUniform() if len(variable.shape) > 1 else keras.initializers.Zeros()
    initializer = keras.initializers.get(initializer)
    settings = initializer.get_config()
    if "seed" in settings:  # a seeded initializer repeats its draw: every array gets its own seed
        initializer = initializer.__class__.from_config({**settings, "seed": seed})
    return keras.ops.convert_to_numpy(initializer(variable.shape, dtype=variable.dtype))


def reinitialize(layers, mode="random", seed=0):
    """Give `layers` (a layer, a list of layers, or a model's layers) new weights, in place (notebooks 04, 05).

    "random" draws every array again from its layer's own initializer. "mean_var" is the Mean Var Init of
    Raghu et al. (2019): each kernel (a trainable array with two or more axes) is drawn i.i.d. from a normal
    with the mean and standard deviation of its current values; other arrays are drawn as in "random".
    """
    if mode not in ("random", "mean_var"):
        raise ValueError(f"mode must be 'random' or 'mean_var', not {mode!r}")
    if isinstance(layers, keras.Model):
        layers = layers.layers
    elif isinstance(layers, keras.layers.Layer):
        layers = [layers]
    rng = np.random.default_rng(seed)
    for number, layer in enumerate(layers):
        for index, variable in enumerate(layer.weights):
            if mode == "mean_var" and variable.trainable and len(variable.shape) >= 2:
                current = keras.ops.convert_to_numpy(variable)
                value = rng.normal(current.mean(), current.std(), size=current.shape)
            else:
                value = _fresh_value(layer, variable, seed * 100003 + number * 101 + index)
            variable.assign(np.asarray(value, dtype=variable.dtype))
