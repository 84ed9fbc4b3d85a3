import keras
import numpy as np
import pytest

from tlkeras import models


def test_mlp_layers_and_output():
    model = models.mlp(hidden=(16, 8), kernel_initializer="he_normal")
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == ["hidden_1", "hidden_2", "output"]
    probabilities = model(np.zeros((2, 28, 28), "float32")).numpy()
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_mlp_layers_get_different_random_draws():
    model = models.mlp(hidden=(32, 32), input_shape=(32,), kernel_initializer="glorot_uniform")
    assert not np.array_equal(model.get_layer("hidden_1").kernel.numpy(), model.get_layer("hidden_2").kernel.numpy())


def test_mlp_uses_the_bias_initializer():
    model = models.mlp(hidden=(4,), bias_initializer=keras.initializers.Constant(0.01))
    assert np.allclose(model.get_layer("hidden_1").bias.numpy(), 0.01)


def test_mlp_seed_makes_it_repeatable():
    a = models.mlp(hidden=(8,), seed=3).get_layer("hidden_1").kernel.numpy()
    b = models.mlp(hidden=(8,), seed=3).get_layer("hidden_1").kernel.numpy()
    assert np.array_equal(a, b)


def test_small_cnn_shapes_and_names():
    model = models.small_cnn(filters=(4, 8), dense=16)
    names = [layer.name for layer in model.layers]
    assert {"conv_1", "conv_2", "dense_1", "output"} <= set(names)
    assert model(np.zeros((3, 28, 28, 1), "float32")).shape == (3, 10)


def test_deep_plain_net_depth():
    model = models.deep_plain_net(depth=5, width=7, activation="tanh", kernel_initializer="glorot_normal")
    assert sum(layer.name.startswith("hidden_") for layer in model.layers) == 5


@pytest.mark.parametrize("call", [
    lambda: models.mlp(hidden=()),
    lambda: models.mlp(hidden=(0,)),
    lambda: models.small_cnn(input_shape=(28, 28)),
    lambda: models.deep_plain_net(depth=0, width=4, activation="relu", kernel_initializer="he_normal"),
    lambda: models.mlp(kernel_initializer="nonsense"),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
