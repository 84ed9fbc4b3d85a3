import keras
import numpy as np
import pytest

from tlkeras import inits

SHAPE = (400, 300)  # fan_in 400, fan_out 300


def sample(name, seed=0, shape=SHAPE):
    return keras.ops.convert_to_numpy(inits.get(name, seed=seed)(shape))


@pytest.mark.parametrize("name, mean, std", [
    ("zeros", 0.0, 0.0),
    ("ones", 1.0, 0.0),
    ("uniform", 0.5, np.sqrt(1 / 12)),
    ("general_rule", 0.0, np.sqrt(1 / (3 * 400))),
    ("normal_fan_in", 0.0, np.sqrt(1 / 400)),
    ("small_random", 0.0, 0.01),
    ("lecun_normal", 0.0, np.sqrt(1 / 400)),
    ("lecun_uniform", 0.0, np.sqrt(1 / 400)),
    ("glorot_uniform", 0.0, np.sqrt(2 / 700)),
    ("glorot_normal", 0.0, np.sqrt(2 / 700)),
    ("he_normal", 0.0, np.sqrt(2 / 400)),
    ("he_uniform", 0.0, np.sqrt(2 / 400)),
    ("sparse", 0.0, np.sqrt(10 / 400) * np.sqrt(1 / 10)),
])
def test_scheme_statistics(name, mean, std):
    values = sample(name)
    assert values.shape == SHAPE
    assert values.mean() == pytest.approx(mean, abs=max(0.05 * std, 1e-3) + 1e-9)
    assert values.std() == pytest.approx(std, rel=0.05, abs=1e-9)


def test_general_rule_bounds():
    values = sample("general_rule")
    limit = 1 / np.sqrt(400)
    assert values.max() <= limit and values.min() >= -limit and values.max() > 0.95 * limit


def test_every_scheme_is_described_and_builds():
    for name in inits.SCHEMES:
        assert inits.describe(name)
        assert sample(name, shape=(20, 5)).shape == (20, 5)


def test_unknown_scheme_lists_valid_names():
    with pytest.raises(ValueError) as error:
        inits.get("xavier_magic")
    assert "he_normal" in str(error.value) and "sparse" in str(error.value)


def test_initializer_instance_passes_through():
    initializer = keras.initializers.Constant(0.3)
    assert inits.get(initializer) is initializer


@pytest.mark.parametrize("shape", [(784, 64), (3, 3, 16, 8)])
def test_sparse_has_exactly_k_nonzeros_per_unit(shape):
    values = keras.ops.convert_to_numpy(inits.SparseInitializer(k=10, seed=3)(shape))
    per_unit = np.count_nonzero(values.reshape(-1, shape[-1]), axis=0)
    assert np.all(per_unit == 10)


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
