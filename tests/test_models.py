import keras
import numpy as np
import pytest

from tlkeras import models


def test_mlp_layers_and_output():
    model = models.mlp(hidden=(16, 8), kernel_initializer="he_normal")
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        "hidden_1",
        "hidden_2",
        "output",
    ]
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
    same, other = models.small_cnn(filters=(4, 8), dense=16), models.small_cnn(filters=(4, 8), dense=16, seed=1)
    kernel = model.get_layer("conv_2").kernel.numpy()
    assert np.array_equal(kernel, same.get_layer("conv_2").kernel.numpy())  # seeded
    assert not np.allclose(kernel, other.get_layer("conv_2").kernel.numpy())
    assert kernel.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 4)), rel=0.25)  # He normal: Var = 2 / fan_in


def test_deep_plain_net_depth():
    model = models.deep_plain_net(depth=5, width=7, activation="tanh", kernel_initializer="glorot_normal")
    assert sum(layer.name.startswith("hidden_") for layer in model.layers) == 5


@pytest.mark.parametrize(
    "call",
    [
        lambda: models.mlp(hidden=()),
        lambda: models.mlp(hidden=(0,)),
        lambda: models.deep_plain_net(depth=0, width=4, activation="relu", kernel_initializer="he_normal"),
        lambda: models.mlp(kernel_initializer="nonsense"),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_submodel_shares_weights_and_names_missing_layers():
    model = models.mlp(hidden=(8, 4), input_shape=(5,))
    upto = models.submodel(model, "hidden_2")
    x = np.ones((3, 5), "float32")
    assert upto(x).shape == (3, 4)
    model.get_layer("hidden_1").kernel.assign(np.zeros((5, 8), "float32"))
    assert np.all(upto(x).numpy() == 0.0)  # shared, not copied
    assert [o.shape for o in models.submodel(model, ["hidden_1", "hidden_2"])(x)] == [(3, 8), (3, 4)]
    with pytest.raises(ValueError, match="hidden_9"):
        models.submodel(model, "hidden_9")


@pytest.mark.parametrize("classes, units", [(2, 1), (7, 7)])
def test_new_head_gives_logits(classes, units):
    head = models.new_head((16,), num_classes=classes, hidden=8)
    out = head(np.ones((4, 16), "float32")).numpy()
    assert out.shape == (4, units) and head.get_layer("head_logits").activation.__name__ == "linear"


def test_single_channel_equals_gray_copied_into_three_channels():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(5, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    assert models.first_conv(model).name == "conv"
    gray = np.random.default_rng(1).uniform(0, 1, (4, 8, 8, 1)).astype("float32")
    one = models.single_channel(model)
    assert one.input_shape == (None, 8, 8, 1)
    np.testing.assert_allclose(one(gray).numpy(), model(np.repeat(gray, 3, axis=-1)).numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="3 channels"):
        models.first_conv(one)


def test_clone_copies_the_weights_into_independent_layers():
    model = models.mlp(hidden=(4,), input_shape=(3,), seed=1)
    x = np.ones((2, 3), "float32")
    copy = models.clone(model)
    np.testing.assert_array_equal(copy(x).numpy(), model(x).numpy())
    copy.get_layer("hidden_1").kernel.assign(np.zeros((3, 4), "float32"))
    assert not np.array_equal(copy(x).numpy(), model(x).numpy())  # the original kept its own weights


def test_clone_passes_its_keyword_arguments_to_clone_model():
    model = models.mlp(hidden=(4,), input_shape=(3,), seed=1)
    renamed = models.clone(
        model,
        clone_function=lambda layer: layer.__class__.from_config({**layer.get_config(), "name": f"copy_{layer.name}"}),
    )
    np.testing.assert_array_equal(
        renamed.get_layer("copy_hidden_1").kernel.numpy(), model.get_layer("hidden_1").kernel.numpy()
    )
