import numpy as np
import pytest

from tlkeras import diagnostics, models


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.random((64, 28, 28)).astype("float32"), rng.integers(0, 10, 64)


def test_activations_per_layer(batch):
    model = models.deep_plain_net(depth=3, width=16, activation="relu", kernel_initializer="he_normal")
    activations = diagnostics.layer_activations(model, batch[0])
    assert list(activations) == ["hidden_1", "hidden_2", "hidden_3", "output"]
    assert activations["hidden_2"].shape == (64, 16)
    np.testing.assert_allclose(activations["output"], model.predict(batch[0], verbose=0), rtol=1e-5, atol=1e-6)


def test_small_weights_shrink_activations(batch):
    tiny = models.deep_plain_net(depth=4, width=32, activation="tanh", kernel_initializer="small_random")
    stds = [a.std() for a in diagnostics.layer_activations(tiny, batch[0]).values()][:4]
    assert stds[-1] < 0.01 * stds[0]


def test_gradients_match_kernel_shapes(batch):
    model = models.mlp(hidden=(8,))
    gradients = diagnostics.layer_gradients(model, *batch)
    assert gradients["hidden_1"].shape == (784, 8) and gradients["output"].shape == (8, 10)
    assert np.abs(gradients["output"]).sum() > 0


def test_zero_weights_give_zero_hidden_gradient(batch):
    model = models.mlp(hidden=(8,), kernel_initializer="zeros")
    gradients = diagnostics.layer_gradients(model, *batch)
    assert not np.any(gradients["hidden_1"])


def test_summarize_and_dead_units():
    rows = diagnostics.summarize({"a": np.array([[0.0, 2.0], [0.0, 4.0]])})
    assert rows[0]["zero_fraction"] == 0.5 and rows[0]["mean"] == 1.5
    assert diagnostics.dead_unit_fraction(np.array([[0.0, 1.0], [0.0, 0.0]])) == 0.5


def test_model_without_weights_is_rejected():
    import keras

    inputs = keras.Input((3,))
    with pytest.raises(ValueError, match="no Dense or Conv2D"):
        diagnostics.layer_activations(keras.Model(inputs, keras.layers.Activation("relu")(inputs)), np.zeros((1, 3)))
