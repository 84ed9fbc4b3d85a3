"""Tests for tlkeras.backbones: Keras' own file names and pins, checks, the plan and the search order, profiles,
the stand-in, and the feature cache."""

import dataclasses
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from tlkeras import backbones, config, data

NOTOP = "mobilenet_2_5_224_tf_no_top.h5"
RESNET = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture(autouse=True)
def offline(isolated, monkeypatch):
    """The shared isolated machine (no mirror, empty Keras cache), with downloads off and no profile set."""
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)


@pytest.fixture
def weights_mirror(mirror, monkeypatch, tmp_path):
    """A private mirror holding copies of the real MobileNet 0.25 files and their SHA256SUMS."""
    folder = tmp_path / "private_mirror" / "keras" / "models"
    folder.mkdir(parents=True)
    for name in (NOTOP, "mobilenet_2_5_224_tf.h5", "SHA256SUMS"):
        shutil.copy(mirror / "keras" / "models" / name, folder / name)
    monkeypatch.setenv(config.MIRROR_ENV, str(tmp_path / "private_mirror"))
    return folder


def keras_cache():
    folder = data.keras_home() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_file_names_addresses_and_pins_come_from_keras_itself():
    name, url, pin = backbones.keras_weight_file("resnet50", None, 224, False)
    assert name == RESNET and pin == "4d473c1dd8becc155b73f8504c6f6626"
    assert url == backbones.KERAS_ORIGIN + "resnet/" + RESNET
    assert backbones.keras_weight_file("mobilenet", 0.25, 160, True)[0] == "mobilenet_2_5_160_tf.h5"
    assert backbones.keras_weight_file("mobilenet", 0.25, 96, False)[0] == NOTOP  # Keras' own 224 fallback
    assert [f[0] for f in backbones._candidates("mobilenet", 0.25, 160, False)] == [
        "mobilenet_2_5_160_tf_no_top.h5", NOTOP]  # fmt: skip
    assert backbones.split_name("mobilenet_0.25") == ("mobilenet", 0.25)
    assert backbones.split_name("mobilenet") == ("mobilenet", 1.0)
    assert backbones.split_name("inception_v3", None) == ("inception_v3", None)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="Unknown backbone"):
        backbones.load("alexnet", "smoke")
    with pytest.raises(ValueError, match="alpha can be one of"):  # Keras' own message
        backbones.load("mobilenet", "smoke", alpha=0.3)
    with pytest.raises(ValueError, match="width multiplier"):
        backbones.imagenet_weights("resnet50", "cpu", alpha=0.5)
    with pytest.raises(TypeError):
        backbones.load("mobilenet_0.25")  # the profile is always explicit (notebooks pass P.profile)
    with pytest.raises(ValueError, match="'imagenet' or None"):
        backbones.load("mobilenet_0.25", "cpu", weights="mobilenet.h5")


def test_nothing_local_and_offline_names_the_file_the_places_and_the_fixes(monkeypatch):
    with pytest.raises(FileNotFoundError) as error:
        backbones.imagenet_weights("resnet50", "cpu")
    message = str(error.value)
    assert RESNET in message and "Keras cache" in message and "TLKERAS_OFFLINE" in message
    assert "1. go online" in message and "keras/models" in message
    assert backbones.imagenet_weights("resnet50", "cpu", plan_only=True).kind == "missing"
    monkeypatch.delenv(config.OFFLINE_ENV)
    plan = backbones.imagenet_weights("resnet50", "full", plan_only=True)  # nothing is downloaded by a plan
    assert (plan.kind, plan.size_mb, plan.where) == ("download", 94.7, backbones.KERAS_ORIGIN + "resnet/" + RESNET)
    assert not (keras_cache() / RESNET).exists()


def test_a_corrupt_local_file_is_refused_by_name():
    bad = keras_cache() / RESNET
    bad.write_bytes(b"\x89HDF\r\n" + b"\0" * 1000)  # truncated, like the copies found on GitHub
    with pytest.raises(FileNotFoundError, match=re.escape(f"{bad} does not match the md5 Keras pins")):
        backbones.imagenet_weights("resnet50", "full")
    unpinned = keras_cache() / NOTOP
    unpinned.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)
    with pytest.raises(data.DataFileError, match=f"{NOTOP} is not a complete HDF5"):
        backbones.check_weights(unpinned)


def test_the_mirror_wins_and_its_sha256sums_are_checked(weights_mirror):
    shutil.copy(weights_mirror / NOTOP, keras_cache() / NOTOP)
    assert backbones.imagenet_weights("mobilenet_0.25", "cpu").path == str(weights_mirror / NOTOP)
    assert backbones.imagenet_weights("mobilenet_0.25", "cpu", input_size=160).path == str(weights_mirror / NOTOP)
    plan = backbones.imagenet_weights("mobilenet_0.25", "cpu", plan_only=True)
    assert plan.where == f"$TLKERAS_MIRROR: {weights_mirror}"
    with open(weights_mirror / NOTOP, "r+b") as handle:  # one flipped byte: still a readable HDF5 file
        handle.seek(-100, 2)
        byte = handle.read(1)
        handle.seek(-100, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert backbones.imagenet_weights("mobilenet_0.25", "cpu").path == str(keras_cache() / NOTOP)  # next place
    (keras_cache() / NOTOP).unlink()
    with pytest.raises(FileNotFoundError, match="does not match its SHA256SUMS"):
        backbones.imagenet_weights("mobilenet_0.25", "cpu")
    assert backbones.imagenet_weights("mobilenet_0.25", "cpu", plan_only=True).kind == "missing"  # plan agrees


def test_cpu_and_full_never_substitute(weights_mirror):
    for profile in ("cpu", "full"):
        with pytest.raises(FileNotFoundError, match=RESNET):
            backbones.load("resnet50", profile)


@pytest.mark.slow
def test_smoke_substitutes_the_mirror_mobilenet_with_a_banner(weights_mirror, capsys):
    plan = backbones.imagenet_weights("resnet50", "smoke", input_size=160, plan_only=True)
    assert plan.kind == "local" and "stand-in for resnet50" in plan.what and not capsys.readouterr().out
    backbone = backbones.load("resnet50", "smoke", input_size=160)
    out = capsys.readouterr().out
    assert "STAND-IN BACKBONE" in out and RESNET in out and config.STAND_IN in out
    assert (backbone.name, backbone.requested, backbone.alpha, backbone.pretrained) == (
        "mobilenet", "resnet50", 0.25, True)  # fmt: skip
    assert backbone.input_size == 160 and backbone.model.output_shape == (None, 256)
    assert backbone.weights.path.endswith(NOTOP) and backbone.label == "mobilenet_0.25"
    np.testing.assert_allclose(backbone.preprocess(np.array([0.0, 255.0])), [-1.0, 1.0])
    named = backbones.load("mobilenet_0.25", "cpu", input_size=160)  # named directly: no banner
    assert "STAND-IN" not in capsys.readouterr().out and named.label == "mobilenet_0.25"
    random = backbones.load("mobilenet", "smoke", alpha=0.25, input_size=160, weights=None)
    kernel = backbone.model.get_layer("conv1").kernel.numpy()
    np.testing.assert_array_equal(kernel, named.model.get_layer("conv1").kernel.numpy())
    assert not random.pretrained and not np.array_equal(kernel, random.model.get_layer("conv1").kernel.numpy())
    top = backbones.load("mobilenet_0.25", "cpu", include_top=True)
    assert top.model.output_shape == (None, 1000) and top.weights.path.endswith("mobilenet_2_5_224_tf.h5")


@pytest.mark.slow
def test_a_damaged_stand_in_is_named_and_random_weights_are_used(weights_mirror, capsys):
    (weights_mirror / NOTOP).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert backbones.imagenet_weights("inception_v3", "smoke", plan_only=True).kind == "missing"
    backbone = backbones.load("inception_v3", "smoke", input_size=75)
    out = capsys.readouterr().out
    assert "NO PRETRAINED BACKBONE" in out and "stand-in mobilenet_0.25" in out and "SHA256SUMS" in out
    assert backbone.label == "inception_v3" and not backbone.pretrained and "RANDOM" in backbone.note


@pytest.mark.slow
def test_a_file_that_does_not_load_is_named_with_the_fix(weights_mirror):
    wrong = keras_cache() / "mobilenet_5_0_224_tf_no_top.h5"
    shutil.copy(weights_mirror / NOTOP, wrong)  # a complete HDF5 file, but of the 0.25-wide network
    with pytest.raises(data.DataFileError, match=re.escape(f"{wrong} does not load into mobilenet_0.5")):
        backbones.load("mobilenet_0.5", "cpu")


# ---- the feature cache ---------------------------------------------------------------------------------


def _pets(root, n=4):
    """A tiny two-class set of image files (plumbing fixture): paths and labels."""
    paths = []
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.random.default_rng(10 * c + i).integers(0, 255, (30, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}.{i}.jpg")
            paths.append(root / name / f"{name}.{i}.jpg")
    return paths, np.repeat([0, 1], n)


def _tiny_backbone(size=32):
    """MobileNet 0.25 with random weights at 32 px (its smallest input): the cache plumbing, fast."""
    return backbones.load("mobilenet_0.25", "cpu", input_size=size, weights=None)


def test_features_are_computed_once_then_read_back(tmp_path, capsys):
    from tlkeras import images

    paths, labels = _pets(tmp_path / "pets")
    backbone = _tiny_backbone()
    first = backbones.features(backbone, paths, labels, "pets-train")
    assert "features mobilenet_0.25-pets-train: 8/8 images" in capsys.readouterr().out
    second = backbones.features(backbone, paths, labels, "pets-train")
    assert first.status == "computed (no cache yet)" and second.status == "hit"
    assert first["features"].shape == (8, 256) and first.path.parent.name == "features"
    np.testing.assert_array_equal(first["features"], second["features"])
    np.testing.assert_array_equal(second["labels"], labels)
    direct = np.concatenate(
        [backbone.model(x).numpy() for x, _ in images.dataset(paths, labels, 32, backbone.preprocess)]
    )
    np.testing.assert_allclose(second["features"], direct, rtol=1e-5, atol=1e-6)


def test_other_weights_image_size_labels_or_files_make_the_cache_stale(tmp_path):
    paths, labels = _pets(tmp_path / "pets")
    folder = tmp_path / "features"
    backbone = _tiny_backbone()
    backbones.features(backbone, paths, labels, "train", folder=folder)
    conv = backbone.model.get_layer("conv1")
    conv.set_weights([kernel * 1.5 for kernel in conv.get_weights()])
    again = backbones.features(backbone, paths, labels, "train", folder=folder)
    assert "weights_hash" in again.status and "image_size" not in again.status
    assert backbones.features(backbone, paths, labels, "train", folder=folder).status == "hit"
    assert "data_fingerprint" in backbones.features(backbone, paths, labels[::-1], "train", folder=folder).status
    bigger = _tiny_backbone(size=48)
    bigger.model.set_weights(backbone.model.get_weights())
    resized = backbones.features(bigger, paths, labels, "train", folder=folder).status
    assert "image_size: 32 -> 48" in resized
    backbones.features(backbone, paths, labels, "train", folder=folder)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(paths[0])
    os.utime(paths[0], ns=(1, 1))  # a replaced file: other size and time
    changed = backbones.features(backbone, paths, labels, "train", folder=folder)
    assert "data_fingerprint" in changed.status


def test_a_model_cut_from_a_backbone_is_cached_under_its_own_name(tmp_path):
    """Notebook 05 caches features of the lower part of its backbone: ``dataclasses.replace(backbone, model=...,
    name=...)`` keeps the weights' facts and preprocessing, under another name."""
    import keras

    paths, labels = _pets(tmp_path / "pets")
    backbone = _tiny_backbone()
    lower = keras.Model(backbone.model.input, backbone.model.get_layer("conv_pw_1_relu").output)
    cut = dataclasses.replace(backbone, model=lower, name="mobilenet-conv_pw_1")
    assert (cut.label, cut.input_size, cut.preprocess) == ("mobilenet-conv_pw_1_0.25", 32, backbone.preprocess)
    entry = backbones.features(cut, paths, labels, "pets", folder=tmp_path / "features")
    assert entry.path.name == "mobilenet-conv_pw_1_0.25-pets.npz" and entry["features"].shape[1:] == (16, 16, 16)


def test_a_half_written_cache_is_never_a_hit(tmp_path):
    paths, labels = _pets(tmp_path / "pets")
    backbone = _tiny_backbone()
    found = backbones.features(backbone, paths, labels, "validation")
    found.path.with_suffix(".json").unlink()  # as if the process died before writing the metadata
    assert backbones.features(backbone, paths, labels, "validation").status.startswith("computed")
