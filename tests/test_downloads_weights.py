"""Online paths of notebook 02, run offline through the real code: ImageNet weights from a local HTTP server,
and tensorflow-datasets cats_vs_dogs under ``tfds.testing.mock_data``."""

import shutil

import keras
import numpy as np
import pytest

from tlkeras import backbones, data, images

NOTOP = "mobilenet_2_5_224_tf_no_top.h5"


@pytest.fixture
def served(isolated, mirror, serve, monkeypatch, tmp_path):
    """A local server with Keras' folder layout as the weights origin; returns (its mobilenet folder, requests)."""
    folder = tmp_path / "served" / "mobilenet"
    folder.mkdir(parents=True)
    origin, requested = serve(tmp_path / "served")
    monkeypatch.setenv(backbones.ORIGIN_ENV, origin)
    return folder, requested


def test_weights_are_downloaded_verified_and_loaded_through_the_real_path(served, mirror, tmp_path):
    folder, requested = served
    shutil.copy(mirror / "keras/models" / NOTOP, folder / NOTOP)
    plan = backbones.imagenet_weights("mobilenet_0.25", "cpu", plan_only=True)
    assert plan.kind == "download" and plan.where.endswith(f"/mobilenet/{NOTOP}") and not requested
    backbone = backbones.load("mobilenet_0.25", "cpu")  # cpu: real weights or an error, never a stand-in
    target = data.keras_home() / "models" / NOTOP
    assert backbone.weights.path == str(target) and backbone.pretrained and backbone.label == "mobilenet_0.25"
    assert requested == [f"/mobilenet/{NOTOP}"]
    listed = mirror / "keras/models" / NOTOP
    assert data.verify_file(listed) and data.file_digest(target) == data.file_digest(listed)  # the mirror's file
    reference = keras.applications.MobileNet(include_top=False, weights=str(listed), alpha=0.25)
    np.testing.assert_array_equal(backbone.model.get_layer("conv1").kernel.numpy(),
                                  reference.get_layer("conv1").kernel.numpy())  # fmt: skip
    assert backbones.imagenet_weights("mobilenet_0.25", "cpu", plan_only=True).kind == "local"
    backbones.load("mobilenet_0.25", "cpu")  # the second time it comes from the Keras cache
    assert len(requested) == 1


def test_a_truncated_download_is_rejected_and_removed_never_loaded(served, mirror, capsys):
    folder, requested = served
    good = (mirror / "keras/models" / NOTOP).read_bytes()
    (folder / NOTOP).write_bytes(good[: len(good) // 2])
    with pytest.raises(FileNotFoundError) as error:
        backbones.load("mobilenet_0.25", "full")
    message = str(error.value)
    assert f"{NOTOP} is not a complete HDF5" in message and "1. go online" in message and "keras/models" in message
    assert requested == [f"/mobilenet/{NOTOP}"]
    assert not (data.keras_home() / "models" / NOTOP).exists()
    backbone = backbones.load("mobilenet_0.25", "smoke")  # smoke downloads nothing, goes on and says why
    assert not backbone.pretrained and "RANDOM" in capsys.readouterr().out and len(requested) == 1


def test_an_unreachable_origin_is_reported_with_the_fixes(isolated, monkeypatch):
    monkeypatch.setenv(backbones.ORIGIN_ENV, "http://127.0.0.1:9/")  # the discard port: nothing listens
    with pytest.raises(FileNotFoundError, match="download from http://127.0.0.1:9/resnet/"):
        backbones.imagenet_weights("resnet50", "full")


def test_tfds_cats_vs_dogs_runs_under_mock_data_with_caps_and_splits(isolated, tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with tfds.testing.mock_data(num_examples=40):  # tfds' own offline stand-in: random images, real feature spec
        full = images.load_tfds(seed=0)
        capped = images.load_tfds(seed=0, max_per_class=6)
        found = images.load_cats_vs_dogs(seed=0, max_per_class=6)  # nothing local
    assert full.class_names == ["cat", "dog"] and full.source.startswith("tfds:cats_vs_dogs")
    counts = {name: np.bincount(full.labels(name), minlength=2) for name in ("train", "validation")}
    assert sum(c.sum() for c in counts.values()) + len(full.skipped) == 40  # mock images under 16 px are skipped
    assert full.skipped and all("too small" in reason for _, reason in full.skipped)
    assert all(abs(v - 0.2 * (t + v)) <= 1 for t, v in zip(counts["train"], counts["validation"]))  # stratified
    per_class = np.bincount(np.concatenate([capped.labels("train"), capped.labels("validation")]))
    assert per_class.max() <= 6 and per_class.sum() + len(capped.skipped) == 12  # capped first, then checked
    assert found.source == capped.source and found.paths("train") == capped.paths("train")
    assert all(path.is_file() and "cats_vs_dogs-tfds" in str(path) for path in capped.paths("train"))
    x, y = next(iter(capped.dataset("train", 40, preprocess=lambda v: v / 255.0, batch_size=4)))
    assert x.shape == (4, 40, 40, 3) and float(x.numpy().max()) <= 1.0
