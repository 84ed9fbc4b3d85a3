import keras
import numpy as np
import pytest

from tlkeras import inits

SHAPE = (400, 300)  # fan_in 400, fan_out 300


def sample(name, seed=0, shape=SHAPE):
    return keras.ops.convert_to_numpy(inits.get(name, seed=seed)(shape))


STATISTICS = {  # name -> (mean, std) of a (400, 300) kernel
    "zeros": (0.0, 0.0),
    "ones": (1.0, 0.0),
    "uniform": (0.5, np.sqrt(1 / 12)),
    "general_rule": (0.0, np.sqrt(1 / (3 * 400))),
    "normal_fan_in": (0.0, np.sqrt(1 / 400)),
    "small_random": (0.0, 0.01),
    "lecun_normal": (0.0, np.sqrt(1 / 400)),
    "lecun_uniform": (0.0, np.sqrt(1 / 400)),
    "glorot_uniform": (0.0, np.sqrt(2 / 700)),
    "glorot_normal": (0.0, np.sqrt(2 / 700)),
    "he_normal": (0.0, np.sqrt(2 / 400)),
    "he_uniform": (0.0, np.sqrt(2 / 400)),
    "sparse": (0.0, np.sqrt(15 / 400) * np.sqrt(1 / 15)),
}


@pytest.mark.parametrize("name, mean, std", [(name, *values) for name, values in STATISTICS.items()])
def test_scheme_statistics(name, mean, std):
    values = sample(name)
    assert values.shape == SHAPE
    assert values.mean() == pytest.approx(mean, abs=max(0.05 * std, 1e-3) + 1e-9)
    assert values.std() == pytest.approx(std, rel=0.05, abs=1e-9)


def test_general_rule_bounds():
    values = sample("general_rule")
    limit = 1 / np.sqrt(400)
    assert values.max() <= limit and values.min() >= -limit and values.max() > 0.95 * limit


def test_every_scheme_has_a_statistics_check_and_unknown_names_are_refused():
    assert set(STATISTICS) == set(inits.SCHEMES)  # a new scheme needs a row in STATISTICS
    with pytest.raises(ValueError, match="he_normal"):
        inits.describe("xavier_magic")


def test_unknown_scheme_lists_valid_names():
    with pytest.raises(ValueError) as error:
        inits.get("xavier_magic")
    assert "he_normal" in str(error.value) and "sparse" in str(error.value)


def test_initializer_instance_passes_through():
    initializer = keras.initializers.Constant(0.3)
    assert inits.get(initializer) is initializer


@pytest.mark.parametrize("shape", [(784, 64), (3, 3, 16, 8)])
def test_sparse_has_exactly_k_nonzeros_per_unit(shape):
    values = keras.ops.convert_to_numpy(inits.SparseInitializer(seed=3)(shape))
    per_unit = np.count_nonzero(values.reshape(-1, shape[-1]), axis=0)
    assert np.all(per_unit == 15)  # Martens (2010) used 15 incoming connections per unit


def test_sparse_caps_k_at_fan_in_and_is_seeded():
    values = keras.ops.convert_to_numpy(inits.SparseInitializer(k=50, seed=1)((5, 4)))
    assert np.all(np.count_nonzero(values, axis=0) == 5)
    a = keras.ops.convert_to_numpy(inits.SparseInitializer(k=3, seed=9)((30, 6)))
    b = keras.ops.convert_to_numpy(inits.SparseInitializer(k=3, seed=9)((30, 6)))
    c = keras.ops.convert_to_numpy(inits.SparseInitializer(k=3, seed=10)((30, 6)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"k": 5, "stddev": -1.0}])
def test_sparse_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        inits.SparseInitializer(**kwargs)


def test_sparse_rejects_vectors():
    with pytest.raises(ValueError, match="rank"):
        inits.SparseInitializer()((10,))


def test_sparse_model_round_trips_through_keras_file(tmp_path):
    inputs = keras.Input((12,))
    outputs = keras.layers.Dense(6, kernel_initializer=inits.SparseInitializer(k=4, stddev=0.5, seed=2))(inputs)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "sparse.keras")
    loaded = keras.saving.load_model(tmp_path / "sparse.keras")
    assert np.array_equal(loaded.layers[-1].kernel.numpy(), model.layers[-1].kernel.numpy())
    config = loaded.layers[-1].kernel_initializer.get_config()
    assert isinstance(loaded.layers[-1].kernel_initializer, inits.SparseInitializer)
    assert (config["k"], config["stddev"], config["seed"]) == (4, 0.5, 2)


@pytest.mark.parametrize(
    "name, ratio", [("general_rule", 1 / 3), ("lecun_normal", 1.0), ("he_normal", 2.0), ("sparse", 1.0)]
)
@pytest.mark.parametrize("fan_in", [100, 1000])
def test_forward_variance_ratio_does_not_depend_on_fan_in(name, ratio, fan_in):
    # Var(y) / Var(x) = fan_in * Var(w): 1/3 for U(+-1/sqrt(n)) (Glorot & Bengio 2010, eq. 1), 1 for LeCun, 2 for He
    x = np.random.default_rng(0).normal(size=(2000, fan_in))
    y = x @ sample(name, seed=1, shape=(fan_in, 256))
    assert y.var() / x.var() == pytest.approx(ratio, rel=0.08)


def test_glorot_averages_forward_and_backward_ratios_to_one():
    kernel = sample("glorot_normal", shape=(784, 256))
    forward, backward = 784 * kernel.var(), 256 * kernel.var()
    assert forward > 1.3 and backward < 0.6 and (forward + backward) / 2 == pytest.approx(1.0, rel=0.05)


def _pretrained_like_model():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, name="dense")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    for variable in model.weights:  # shifted, scaled values unlike any default initializer
        rng = np.random.default_rng(len(variable.path))
        variable.assign(rng.normal(0.3, 0.05, variable.shape).astype("float32"))
    return model


def test_reinitialize_random_draws_from_the_layer_initializer():
    model = _pretrained_like_model()
    inits.reinitialize(model.get_layer("conv"), "random", seed=0)
    kernel = model.get_layer("conv").kernel.numpy()
    assert abs(kernel.mean()) < 0.05 and kernel.std() < 0.3  # Glorot: centred, not the "pretrained" 0.3
    assert np.all(model.get_layer("conv").bias.numpy() == 0.0)
    assert model.get_layer("dense").kernel.numpy().mean() > 0.2  # other layers untouched
    inits.reinitialize(model.get_layer("conv"), "random", seed=0)
    assert np.array_equal(model.get_layer("conv").kernel.numpy(), kernel)  # seeded


def test_reinitialize_mean_var_keeps_kernel_statistics():
    model = _pretrained_like_model()
    before = model.get_layer("dense").kernel.numpy().copy()
    inits.reinitialize(model, "mean_var", seed=0)
    after = model.get_layer("dense").kernel.numpy()
    assert not np.array_equal(after, before)
    assert after.mean() == pytest.approx(before.mean(), abs=5 * before.std() / np.sqrt(before.size))
    assert after.std() == pytest.approx(before.std(), rel=5 / np.sqrt(before.size))
    assert np.all(model.get_layer("bn").moving_variance.numpy() == 1.0)  # statistics reset, not sampled
    with pytest.raises(ValueError, match="mean_var"):
        inits.reinitialize(model, "zeros")


def test_reinitialize_finds_each_array_its_own_initializer():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.DepthwiseConv2D(3, depthwise_initializer="ones", name="depthwise")(inputs)
    outputs = keras.layers.SeparableConv2D(
        2, 1, depthwise_initializer="ones", pointwise_initializer="zeros", bias_initializer="ones", name="separable"
    )(x)
    model = keras.Model(inputs, outputs)
    for variable in model.weights:
        variable.assign(np.full(variable.shape, 0.5, "float32"))
    inits.reinitialize(model, "random")
    separable = model.get_layer("separable")
    assert np.all(model.get_layer("depthwise").kernel.numpy() == 1.0)  # DepthwiseConv2D: depthwise_initializer
    assert np.all(separable.depthwise_kernel.numpy() == 1.0) and np.all(separable.pointwise_kernel.numpy() == 0.0)
    assert np.all(separable.bias.numpy() == 1.0)
