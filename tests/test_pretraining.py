import keras
import numpy as np
import pytest

import tlkeras as tlk
from tlkeras import pretraining


def low_rank_data(n=256, dim=20, rank=3, seed=0):
    """Unlabelled vectors in [0, 1] that lie near a 3-dimensional subspace, so an autoencoder can learn them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, dim))
    return (1 / (1 + np.exp(-x))).astype("float32")


def test_autoencoder_shapes_and_names():
    model = pretraining.autoencoder(12, 5, activation="tanh", noise_stddev=0.1, index=3)
    assert model.name == "autoencoder_3"
    assert model.get_layer("encoder_3").kernel.shape == (12, 5)
    assert model.get_layer("decoder_3").kernel.shape == (5, 12)
    assert model.output.shape == (None, 12)
    with pytest.raises(ValueError, match="positive"):
        pretraining.autoencoder(12, 0)


def test_autoencoder_takes_the_start_it_is_given():
    small = pretraining.autoencoder(300, 200, kernel_initializer="small_random", seed=3)
    glorot = pretraining.autoencoder(300, 200, kernel_initializer="glorot_uniform", seed=3)
    small_std = float(np.std(small.get_layer("encoder_1").kernel.numpy()))
    glorot_std = float(np.std(glorot.get_layer("encoder_1").kernel.numpy()))
    assert abs(small_std - 0.01) < 0.001  # 0.01 * N(0, 1)
    assert abs(glorot_std - np.sqrt(2 / 500)) < 0.005  # Var = 2 / (fan_in + fan_out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_encoder_starts_from_the_mlp_draw_of_its_seed(seed):
    # notebook 06 compares a pretrained net with the Glorot net of the same seed: for every seed and layer
    # the encoder must start from exactly that net's hidden-layer weights, so only pretraining differs
    reference = tlk.models.mlp(hidden=(8, 6, 4), activation="sigmoid", input_shape=(20,), seed=seed)
    other_seed = tlk.models.mlp(hidden=(8, 6, 4), activation="sigmoid", input_shape=(20,), seed=seed + 1)
    for index, (fan_in, units) in enumerate([(20, 8), (8, 6), (6, 4)], start=1):
        encoder = pretraining.autoencoder(fan_in, units, seed=seed, index=index).get_layer(f"encoder_{index}")
        expected = reference.get_layer(f"hidden_{index}").kernel.numpy()
        np.testing.assert_array_equal(encoder.kernel.numpy(), expected)
        assert not np.array_equal(encoder.kernel.numpy(), other_seed.get_layer(f"hidden_{index}").kernel.numpy())


def stack_and_train(x, freeze):
    """One greedy round as notebook 06 writes it: train autoencoder 1, then autoencoder 2 on top of its encoder."""
    first = pretraining.autoencoder(x.shape[1], 8, seed=0, index=1)
    first.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    first.fit(x, x, batch_size=32, epochs=2, verbose=0)
    encoder = first.get_layer("encoder_1")
    encoder.trainable = not freeze
    codes = keras.ops.convert_to_numpy(encoder(x))
    second = pretraining.autoencoder(8, 4, seed=0, index=2)
    model = keras.Sequential([keras.Input((x.shape[1],)), encoder, second])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = [w.copy() for w in encoder.get_weights()]
    history = model.fit(x, codes, batch_size=32, epochs=3, verbose=0)
    moved = any(not np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))
    return history, moved, len(model.trainable_weights)


@pytest.mark.slow
def test_a_frozen_encoder_stays_put_while_the_next_autoencoder_learns():
    x = low_rank_data(n=1024)
    history, moved, trainable = stack_and_train(x, freeze=True)
    assert not moved and trainable == 4  # only the new encoder and decoder (kernel and bias each) train
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    _, moved_unfrozen, trainable_unfrozen = stack_and_train(x, freeze=False)
    assert moved_unfrozen and trainable_unfrozen == 6  # without trainable = False the layer below moves too


def test_pretrained_mlp_copies_the_encoders_into_the_mlp_builder():
    encoders = [
        pretraining.autoencoder(20, 8, activation="tanh", seed=5, index=1).get_layer("encoder_1"),
        pretraining.autoencoder(8, 4, activation="tanh", seed=7, index=2).get_layer("encoder_2"),
    ]
    model = pretraining.pretrained_mlp(encoders, input_shape=(20,), num_classes=3, seed=0)
    reference = tlk.models.mlp(hidden=(8, 4), activation="tanh", input_shape=(20,), num_classes=3, seed=0)
    assert [layer.name for layer in model.layers] == [layer.name for layer in reference.layers]
    for index, encoder in enumerate(encoders, start=1):
        np.testing.assert_array_equal(model.get_layer(f"hidden_{index}").kernel.numpy(), encoder.kernel.numpy())
    np.testing.assert_array_equal(
        model.get_layer("output").kernel.numpy(), reference.get_layer("output").kernel.numpy()
    )
    assert model.get_layer("hidden_1").get_config()["activation"] == "tanh"
    assert all(layer.trainable for layer in model.layers)  # fine-tuning trains the whole stack


def test_pretrained_mlp_rejects_encoders_that_do_not_stack():
    first = pretraining.autoencoder(784, 8).get_layer("encoder_1")
    wrong = pretraining.autoencoder(6, 4, index=2).get_layer("encoder_2")  # expects 6 inputs, gets 8
    with pytest.raises(ValueError, match="hidden_2 weight shape"):
        pretraining.pretrained_mlp([first, wrong])
    mixed = pretraining.autoencoder(8, 4, activation="tanh", index=2).get_layer("encoder_2")
    with pytest.raises(ValueError, match="share one activation"):
        pretraining.pretrained_mlp([first, mixed])
    with pytest.raises(ValueError, match="at least one"):
        pretraining.pretrained_mlp([])


def tiny_feature_net():
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(3, 2, name="conv", kernel_initializer=keras.initializers.GlorotUniform(seed=0))(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(conv)
    outputs = keras.layers.Dense(2, activation="softmax", name="output")(pooled)
    return keras.Model(inputs, outputs)


def test_perceptual_loss_compares_features_per_example():
    extractor = tlk.models.submodel(tiny_feature_net(), ["conv"])
    loss = pretraining.perceptual_loss(extractor)
    rng = np.random.default_rng(0)
    target = rng.random((5, 16)).astype("float32")  # flat vectors are reshaped to (4, 4, 1)
    other = rng.random((5, 16)).astype("float32")
    same = keras.ops.convert_to_numpy(loss(target, target))
    assert same.shape == (5,)
    np.testing.assert_allclose(same, 0.0, atol=1e-7)
    features_a = extractor(target.reshape(5, 4, 4, 1))
    features_b = extractor(other.reshape(5, 4, 4, 1))
    expected = np.mean((np.asarray(features_a) - np.asarray(features_b)).reshape(5, -1) ** 2, axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(target, other)), expected, rtol=1e-5)
    with_pixels = pretraining.perceptual_loss(extractor, pixel_weight=2.0)
    pixel_mse = np.mean((target - other) ** 2, axis=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(with_pixels(target, other)), expected + 2.0 * pixel_mse, rtol=1e-5
    )
    with pytest.raises(ValueError, match="pixel_weight"):
        pretraining.perceptual_loss(extractor, pixel_weight=-1)


@pytest.mark.slow
def test_perceptual_loss_trains_an_autoencoder_without_moving_the_loss_network():
    net = tiny_feature_net()
    extractor = tlk.models.submodel(net, "conv")
    frozen_before = [w.copy() for w in net.get_weights()]
    x = low_rank_data(n=1024, dim=16)
    model = pretraining.autoencoder(16, 4, activation="relu", output_activation="sigmoid", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=pretraining.perceptual_loss(extractor, 1.0))
    history = model.fit(x, x, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for before, after in zip(frozen_before, net.get_weights()):
        np.testing.assert_array_equal(before, after)


def edge_net(size=16):
    """A fixed 3x3 Laplacian filter: it responds to edges and fine texture, not to smooth regions."""
    inputs = keras.Input((size, size, 1))
    laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], "float32").reshape(3, 3, 1, 1)
    conv = keras.layers.Conv2D(1, 3, padding="valid", use_bias=False, name="edges")
    outputs = conv(inputs)
    conv.set_weights([laplacian])
    return keras.Model(inputs, outputs)


def box_blur(images, passes=3):
    """`passes` rounds of a 3x3 box filter (edges repeated): a wide, smooth blur."""
    size = images.shape[1]
    for _ in range(passes):
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
        images = sum(padded[:, i : i + size, j : j + size] for i in range(3) for j in range(3)) / 9
    return images


def test_perceptual_loss_tells_blur_from_noise_of_equal_pixel_error():
    rng = np.random.default_rng(0)
    size = 16
    images = np.zeros((8, size, size), "float32")
    for image in images:  # bright rectangles on black: sharp edges, like Fashion-MNIST silhouettes
        top, left = rng.integers(2, 6, size=2)
        image[top : top + 8, left : left + 8] = 1.0
    blurred = box_blur(images)
    blur_mse = np.mean((blurred - images) ** 2, axis=(1, 2))
    noise = rng.normal(size=images.shape)
    noisy = images + noise * np.sqrt(blur_mse / np.mean(noise**2, axis=(1, 2)))[:, None, None]
    flat, flat_blurred, flat_noisy = (a.reshape(8, -1).astype("float32") for a in (images, blurred, noisy))
    inputs = keras.Input((size, size, 1))
    pixel_loss = pretraining.perceptual_loss(keras.Model(inputs, keras.layers.Identity()(inputs)))  # pixels as features
    np.testing.assert_allclose(pixel_loss(flat, flat_noisy), pixel_loss(flat, flat_blurred), rtol=1e-4)
    edge_loss = pretraining.perceptual_loss(edge_net(size))
    on_blur = float(np.mean(edge_loss(flat, flat_blurred)))
    on_noise = float(np.mean(edge_loss(flat, flat_noisy)))
    # same pixel MSE, but an edge filter amplifies white noise far more than a smooth blur's error (about 2x here)
    assert on_noise > 1.5 * on_blur, (on_noise, on_blur)
