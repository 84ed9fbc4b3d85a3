"""Tests for tlkeras.features: the feature cache hits, and goes stale when backbone, weights, size or data change."""
import pathlib

import numpy as np
import pytest
from PIL import Image

from tlkeras import backbones, features, images


def _pets(root, n=4):
    """A tiny two-class image folder (plumbing fixture)."""
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.random.default_rng(10 * c + i).integers(0, 255, (30, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}.{i}.jpg")
    return root


def _tiny_backbone(size=32, seed=0, name="tiny"):
    """A small conv net standing in for a backbone, to test the cache plumbing fast."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs, name=name)
    return backbones.Backbone(model, name, name, False, size, lambda x: x / 255.0)


@pytest.fixture
def splits(tmp_path):
    return images.split_folder(_pets(tmp_path / "pets"), validation_fraction=0.25, verbose=False)


def test_features_are_computed_once_then_read_back(splits, tmp_path):
    backbone = _tiny_backbone()
    first = features.cached(backbone, splits, "train", cache_dir=tmp_path / "cache")
    second = features.cached(backbone, splits, "train", cache_dir=tmp_path / "cache")
    assert first.status == "computed (no cache yet)" and second.status == "hit"
    assert first.features.shape == (6, 4)
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(second.labels, splits.labels("train"))
    direct = backbone.model.predict(np.concatenate(
        [x for x, _ in splits.dataset("train", 32, backbone.preprocess).as_numpy_iterator()]), verbose=0)
    np.testing.assert_allclose(second.features, direct, rtol=1e-5, atol=1e-6)
    assert second.metadata["data_fingerprint"] == splits.fingerprint("train")


def test_other_weights_image_size_or_data_make_the_cache_stale(splits, tmp_path):
    cache = tmp_path / "cache"
    backbone = _tiny_backbone()
    features.cached(backbone, splits, "train", cache_dir=cache)
    conv = backbone.model.layers[1]
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 1.5, bias])
    again = features.cached(backbone, splits, "train", cache_dir=cache)
    assert "weights_hash" in again.status and "image_size" not in again.status
    assert features.cached(backbone, splits, "train", cache_dir=cache).status == "hit"
    bigger = _tiny_backbone(size=48)
    bigger.model.set_weights(backbone.model.get_weights())
    bigger.name = bigger.requested = "tiny"  # same label, so the same file, but another image size
    assert features.cached(bigger, splits, "train", cache_dir=cache).status == "computed (no cache yet)"
    root = pathlib.Path(splits.parts["train"][0][0]).parent.parent
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(splits.parts["train"][0][0])
    changed = images.split_folder(root, validation_fraction=0.25, verbose=False)
    assert "data_fingerprint" in features.cached(backbone, changed, "train", cache_dir=cache).status


def test_a_half_written_cache_is_never_a_hit(splits, tmp_path):
    cache = tmp_path / "cache"
    backbone = _tiny_backbone()
    found = features.cached(backbone, splits, "validation", cache_dir=cache)
    found.path.with_suffix(".json").unlink()  # as if the process died before writing the metadata
    assert features.cached(backbone, splits, "validation", cache_dir=cache).status.startswith("computed")


def test_weights_hash_tracks_every_weight():
    backbone = _tiny_backbone()
    before = features.weights_hash(backbone.model)
    assert features.weights_hash(backbone.model) == before
    kernel, bias = backbone.model.layers[1].get_weights()
    backbone.model.layers[1].set_weights([kernel, bias + 1e-6])
    assert features.weights_hash(backbone.model) != before
