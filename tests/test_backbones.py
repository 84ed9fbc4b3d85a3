"""Tests for tlkeras.backbones: file names and pins, checks, resolution order, profiles, stand-ins, feature cache."""

import os
import pathlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from tlkeras import backbones, data

MIRROR = pathlib.Path(os.environ.get("TLKERAS_MIRROR") or pathlib.Path(__file__).resolve().parents[2] / "shared/data")
MODELS = MIRROR / "keras" / "models"
NOTOP = "mobilenet_2_5_224_tf_no_top.h5"
RESNET = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
needs_mirror = pytest.mark.skipif(not (MODELS / NOTOP).is_file(), reason="offline mirror weights not present")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No downloads, an empty Keras cache, a private array cache, and no mirror unless a test sets one."""
    monkeypatch.setenv("TLKERAS_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TLKERAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TLKERAS_MIRROR", raising=False)
    monkeypatch.delenv("TLKERAS_PROFILE", raising=False)


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    """A mirror holding copies of the real MobileNet 0.25 files and the shared SHA256SUMS."""
    folder = tmp_path / "mirror" / "keras" / "models"
    folder.mkdir(parents=True)
    for name in (NOTOP, "mobilenet_2_5_224_tf.h5", "SHA256SUMS"):
        shutil.copy(MODELS / name, folder / name)
    monkeypatch.setenv("TLKERAS_MIRROR", str(tmp_path / "mirror"))
    return folder


def test_file_names_follow_keras_including_size_fallback():
    assert backbones.weight_file_names("resnet50") == [RESNET]
    names = backbones.weight_file_names("mobilenet", alpha=0.25, input_size=160)
    assert names[:2] == ["mobilenet_2_5_160_tf_no_top.h5", NOTOP]
    assert backbones.weight_file_names("mobilenet", alpha=0.25, include_top=True) == ["mobilenet_2_5_224_tf.h5"]
    assert backbones.weight_file_names("mobilenet_v2")[0] == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")  # fmt: skip
    assert backbones.weight_file_names("efficientnet_b0", include_top=True) == ["efficientnetb0.h5"]
    assert backbones.parse_name("mobilenet_0.25") == ("mobilenet", 0.25)
    assert backbones.parse_name("mobilenet_v2_0.35") == ("mobilenet_v2", 0.35)
    assert backbones.parse_name("resnet50") == ("resnet50", None)


def test_pins_and_download_addresses_are_the_ones_in_the_installed_keras_source():
    """Read each keras.applications module's source: its md5 pins and its weight URL must be ours."""
    import keras.src.applications as apps

    source = pathlib.Path(apps.__file__).parent
    for name, module in [("resnet50", "resnet"), ("inception_v3", "inception_v3"), ("vgg16", "vgg16"),
                         ("efficientnet_b0", "efficientnet"), ("mobilenet", "mobilenet"),
                         ("mobilenet_v2", "mobilenet_v2")]:  # fmt: skip
        text = (source / f"{module}.py").read_text()
        pins = set(re.findall(r'"([0-9a-f]{32})"', text))
        for include_top in (True, False):
            expected = backbones.pinned_hash(name, include_top)
            assert (expected in pins) if expected else not pins, (name, include_top)
        url = backbones.weights_url(name, "FILE")
        base = url[: -len("FILE")]
        assert base in re.sub(r'"\s*\n\s*"', "", text), (name, url)  # adjacent literals joined


def test_the_origin_is_a_parameter_of_the_real_code(monkeypatch):
    assert backbones.weights_url("resnet50", RESNET).startswith(backbones.WEIGHTS_ORIGIN + "resnet/")
    monkeypatch.setenv(backbones.ORIGIN_ENV, "http://127.0.0.1:9/m")
    assert backbones.weights_url("mobilenet", NOTOP) == "http://127.0.0.1:9/m/mobilenet/" + NOTOP
    assert backbones.weights_url("efficientnet_b0", "e.h5", origin="http://x/") == "http://x/e.h5"


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="Unknown backbone"):
        backbones.load("alexnet", "smoke")
    with pytest.raises(ValueError, match="alpha"):
        backbones.load("mobilenet", "smoke", alpha=0.3)
    with pytest.raises(ValueError, match="width multiplier"):
        backbones.weight_file_names("resnet50", alpha=0.5)
    with pytest.raises(TypeError):
        backbones.load("mobilenet_0.25")  # the profile is always explicit (notebooks pass P.profile)


def test_nothing_local_and_offline_names_the_file_the_places_and_the_fixes():
    with pytest.raises(FileNotFoundError) as error:
        backbones.resolve_weights("resnet50")
    message = str(error.value)
    assert RESNET in message and "Keras cache" in message and "TLKERAS_OFFLINE=1" in message
    assert "1. go online" in message and "keras/models" in message
    source = backbones.locate_weights("resnet50")
    assert (source.kind, source.size_mb) == ("download", 94.7) and source.where.endswith("resnet/" + RESNET)


def test_a_corrupt_local_file_is_refused_by_name(tmp_path):
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    bad = models / RESNET
    bad.write_bytes(b"\x89HDF\r\n" + b"\0" * 1000)  # truncated, like the copies found on GitHub
    with pytest.raises(FileNotFoundError, match=re.escape(f"{bad} does not match the md5 Keras pins")):
        backbones.resolve_weights("resnet50")
    unpinned = models / NOTOP
    unpinned.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)
    with pytest.raises(data.DataFileError, match=f"{NOTOP} is not a complete HDF5"):
        backbones.check_weights(unpinned, "mobilenet")


@needs_mirror
def test_the_mirror_wins_and_its_sha256sums_are_checked(mirror, tmp_path):
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    shutil.copy(MODELS / NOTOP, cache / NOTOP)
    assert backbones.resolve_weights("mobilenet", alpha=0.25) == mirror / NOTOP
    assert backbones.resolve_weights("mobilenet", alpha=0.25, input_size=96) == mirror / NOTOP
    assert backbones.locate_weights("mobilenet_0.25").where == f"$TLKERAS_MIRROR: {mirror / NOTOP}"
    with open(mirror / NOTOP, "r+b") as handle:  # one flipped byte: still a readable HDF5 file
        handle.seek(-100, 2)
        byte = handle.read(1)
        handle.seek(-100, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert backbones.resolve_weights("mobilenet", alpha=0.25) == cache / NOTOP  # noted, next place used
    (cache / NOTOP).unlink()
    with pytest.raises(FileNotFoundError, match="does not match its SHA256SUMS"):
        backbones.resolve_weights("mobilenet", alpha=0.25)


def test_cpu_and_full_never_substitute(mirror):
    for profile in ("cpu", "full"):
        with pytest.raises(FileNotFoundError, match=RESNET):
            backbones.load("resnet50", profile)


@needs_mirror
@pytest.mark.slow
def test_smoke_substitutes_the_mirror_mobilenet_with_a_banner(mirror, capsys):
    backbone = backbones.load("resnet50", "smoke", input_size=160)
    out = capsys.readouterr().out
    assert "STAND-IN BACKBONE" in out and RESNET in out and "mobilenet alpha=0.25" in out
    assert (backbone.name, backbone.requested, backbone.alpha, backbone.pretrained) == (
        "mobilenet", "resnet50", 0.25, True)  # fmt: skip
    assert backbone.input_size == 160 and backbone.model.output_shape == (None, 256)
    assert backbone.weights_path.endswith(NOTOP) and backbone.label == "mobilenet_0.25"
    np.testing.assert_allclose(backbone.preprocess(np.array([0.0, 255.0])), [-1.0, 1.0])
    named = backbones.load("mobilenet_0.25", "cpu", input_size=160)  # named directly: no banner
    assert "STAND-IN" not in capsys.readouterr().out and named.label == "mobilenet_0.25"
    random = backbones.load("mobilenet", "smoke", alpha=0.25, input_size=160, weights=None)
    kernel = backbone.model.get_layer("conv1").kernel.numpy()
    np.testing.assert_array_equal(kernel, named.model.get_layer("conv1").kernel.numpy())
    assert not random.pretrained and not np.array_equal(kernel, random.model.get_layer("conv1").kernel.numpy())


@needs_mirror
@pytest.mark.slow
def test_a_damaged_stand_in_is_named_and_the_next_one_used(mirror, tmp_path, capsys):
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    (models / "mobilenet_7_5_224_tf_no_top.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    backbone = backbones.load("inception_v3", "smoke")
    out = capsys.readouterr().out
    assert backbone.label == "mobilenet_0.25" and "mobilenet_7_5_224_tf_no_top.h5 is not a complete HDF5" in out


@pytest.mark.slow
def test_no_weights_anywhere_gives_random_weights_and_says_so(capsys):
    backbone = backbones.load("mobilenet", "smoke", alpha=0.25, input_size=96)
    assert not backbone.pretrained and backbone.weights_path is None
    assert "RANDOM" in backbone.note and "NO PRETRAINED BACKBONE" in capsys.readouterr().out


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


def _tiny_backbone(size=32, seed=0, name="tiny"):
    """A small conv net standing in for a backbone, to test the cache plumbing fast."""
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed))(inputs)  # fmt: skip
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name=name)
    return backbones.Backbone(model, name, name, False, size, lambda x: x / 255.0)


def test_features_are_computed_once_then_read_back(tmp_path):
    from tlkeras import images

    paths, labels = _pets(tmp_path / "pets")
    backbone = _tiny_backbone()
    first = backbones.features(backbone, paths, labels, "pets-train", batch_size=3)
    second = backbones.features(backbone, paths, labels, "pets-train", batch_size=3)
    assert first.status == "computed (no cache yet)" and second.status == "hit"
    assert first["features"].shape == (8, 4) and first.path.parent.name == "features"
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
    conv = backbone.model.layers[1]
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 1.5, bias])
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


def test_a_half_written_cache_is_never_a_hit(tmp_path):
    paths, labels = _pets(tmp_path / "pets")
    backbone = _tiny_backbone()
    found = backbones.features(backbone, paths, labels, "validation")
    found.path.with_suffix(".json").unlink()  # as if the process died before writing the metadata
    assert backbones.features(backbone, paths, labels, "validation").status.startswith("computed")


@needs_mirror
@pytest.mark.slow
def test_a_file_that_does_not_load_is_named_with_the_fix(mirror, tmp_path, capsys):
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    wrong = models / "mobilenet_5_0_224_tf_no_top.h5"
    shutil.copy(MODELS / NOTOP, wrong)  # a complete HDF5 file, but of the 0.25-wide network
    with pytest.raises(data.DataFileError, match=re.escape(f"{wrong} does not load into mobilenet")):
        backbones.load("mobilenet_0.5", "cpu")
    backbone = backbones.load("mobilenet_0.5", "smoke")
    assert backbone.label == "mobilenet_0.25" and "does not load into mobilenet" in capsys.readouterr().out
