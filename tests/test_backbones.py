"""Tests for tlkeras.backbones: weight file names and hashes, resolution order, stand-ins, and loading by path."""
import pathlib
import re
import shutil

import numpy as np
import pytest

from tlkeras import backbones

MODELS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "keras" / "models"
NOTOP = "mobilenet_2_5_224_tf_no_top.h5"
needs_mirror = pytest.mark.skipif(not (MODELS / NOTOP).is_file(), reason="offline mirror weights not present")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No downloads, an empty Keras cache, and no mirror unless a test sets one."""
    monkeypatch.setenv("TLKERAS_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("TLKERAS_MIRROR", raising=False)
    monkeypatch.delenv("TLKERAS_PROFILE", raising=False)


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    """A mirror holding the real MobileNet 0.25 files (linked from the shared mirror)."""
    folder = tmp_path / "mirror" / "keras" / "models"
    folder.mkdir(parents=True)
    for name in (NOTOP, "mobilenet_2_5_224_tf.h5"):
        (folder / name).symlink_to(MODELS / name)
    monkeypatch.setenv("TLKERAS_MIRROR", str(tmp_path / "mirror"))
    return folder


def test_the_six_course_backbones_are_listed():
    assert set(backbones.BACKBONES) == {"resnet50", "mobilenet_v2", "inception_v3", "vgg16", "efficientnet_b0",
                                        "mobilenet"}
    assert backbones.DEFAULT == "resnet50"
    assert backbones.BACKBONES["inception_v3"].input_size == 299


def test_file_names_follow_keras_including_size_fallback():
    assert backbones.weight_file_names("resnet50") == ["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    names = backbones.weight_file_names("mobilenet", alpha=0.25, input_size=160)
    assert names[:2] == ["mobilenet_2_5_160_tf_no_top.h5", NOTOP]
    assert backbones.weight_file_names("mobilenet", alpha=0.25, include_top=True) == ["mobilenet_2_5_224_tf.h5"]
    assert backbones.weight_file_names("mobilenet_v2")[0] == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
    assert backbones.weight_file_names("efficientnet_b0", include_top=True) == ["efficientnetb0.h5"]


def test_pinned_hashes_are_the_ones_in_the_installed_keras_source():
    import keras.src.applications as apps

    source = pathlib.Path(apps.__file__).parent
    for name, module in [("resnet50", "resnet"), ("inception_v3", "inception_v3"), ("vgg16", "vgg16"),
                         ("efficientnet_b0", "efficientnet")]:
        text = (source / f"{module}.py").read_text()
        hashes = re.findall(r'"([0-9a-f]{32})"', text)
        for include_top in (True, False):
            assert backbones.pinned_hash(name, include_top) in hashes
    assert backbones.pinned_hash("mobilenet") is None and backbones.pinned_hash("mobilenet_v2") is None


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="Unknown backbone"):
        backbones.load("alexnet")
    with pytest.raises(ValueError, match="alpha"):
        backbones.load("mobilenet", alpha=0.3)
    with pytest.raises(ValueError, match="width multiplier"):
        backbones.weight_file_names("resnet50", alpha=0.5)


def test_nothing_local_and_offline_resolves_to_none():
    assert backbones.resolve_weights("resnet50") is None
    assert backbones.resolve_weights("mobilenet", alpha=0.25) is None


def test_a_corrupt_local_file_is_refused_with_its_name(monkeypatch, tmp_path):
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    bad = models / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    bad.write_bytes(b"\x89HDF\r\n" + b"\0" * 1000)  # truncated, like the copies found on GitHub
    with pytest.raises(ValueError, match=re.escape(bad.name)):
        backbones.resolve_weights("resnet50")


@needs_mirror
def test_mirror_wins_over_keras_cache(mirror, tmp_path):
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    shutil.copy(MODELS / NOTOP, cache / NOTOP)
    assert backbones.resolve_weights("mobilenet", alpha=0.25) == mirror / NOTOP
    assert backbones.resolve_weights("mobilenet", alpha=0.25, input_size=96) == mirror / NOTOP


def test_full_profile_never_substitutes(mirror):
    with pytest.raises(FileNotFoundError, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        backbones.load("resnet50", profile="full")


@needs_mirror
@pytest.mark.slow
def test_smoke_profile_substitutes_the_mirror_mobilenet_with_a_banner(mirror, capsys):
    backbone = backbones.load("resnet50", profile="smoke", input_size=160)
    assert "STAND-IN BACKBONE" in capsys.readouterr().out
    assert (backbone.name, backbone.requested, backbone.alpha, backbone.pretrained) == (
        "mobilenet", "resnet50", 0.25, True)
    assert backbone.input_size == 160 and backbone.model.output_shape == (None, 256)
    assert backbone.weights_path.endswith(NOTOP) and "stand-in" in backbone.note
    assert backbone.label == "mobilenet_0.25"
    np.testing.assert_allclose(backbone.preprocess(np.array([0.0, 255.0])), [-1.0, 1.0])
    random = backbones.load("mobilenet", alpha=0.25, input_size=160, weights=None)
    assert not random.pretrained
    kernel = backbone.model.get_layer("conv1").kernel.numpy()
    assert not np.array_equal(kernel, random.model.get_layer("conv1").kernel.numpy())
    by_path = backbones.load("mobilenet", alpha=0.25, input_size=224, weights=MODELS / NOTOP)
    np.testing.assert_array_equal(kernel, by_path.model.get_layer("conv1").kernel.numpy())


@needs_mirror
@pytest.mark.slow
def test_include_top_stand_in_is_the_imagenet_classifier_at_224(mirror):
    backbone = backbones.load("inception_v3", profile="smoke", include_top=True)
    assert backbone.name == "mobilenet" and backbone.input_size == 224
    assert backbone.model.output_shape == (None, 1000)


@pytest.mark.slow
def test_no_weights_anywhere_gives_random_weights_and_says_so(capsys):
    backbone = backbones.load("mobilenet", alpha=0.25, profile="smoke", input_size=96)
    assert not backbone.pretrained and backbone.weights_path is None
    assert "RANDOM" in backbone.note and "RANDOM" in capsys.readouterr().out
