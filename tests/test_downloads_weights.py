"""Online paths of notebook 02, run offline through the real code: ImageNet weights from a local HTTP server,
and tensorflow-datasets cats_vs_dogs under ``tfds.testing.mock_data``."""

import functools
import http.server
import os
import pathlib
import shutil
import threading

import numpy as np
import pytest

from tlkeras import backbones, data, images

MIRROR = pathlib.Path(os.environ.get("TLKERAS_MIRROR") or pathlib.Path(__file__).resolve().parents[2] / "shared/data")
NOTOP = "mobilenet_2_5_224_tf_no_top.h5"
needs_weights = pytest.mark.skipif(not (MIRROR / "keras/models" / NOTOP).is_file(), reason="mirror weights missing")


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    """Online, but with nothing local: no mirror, an empty Keras cache, a private array cache."""
    for name in ("TLKERAS_MIRROR", "TLKERAS_OFFLINE", "TLKERAS_PROFILE", backbones.ORIGIN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TLKERAS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def server(tmp_path):
    """A static file server on 127.0.0.1 (a thread): yields (served folder, origin URL, list of requested paths)."""
    root = tmp_path / "served"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean, but remember what was asked for
            requested.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", requested
    httpd.shutdown()
    httpd.server_close()


@needs_weights
def test_weights_are_downloaded_verified_and_loaded_through_the_real_path(server, monkeypatch, tmp_path):
    root, origin, requested = server
    (root / "mobilenet").mkdir()
    shutil.copy(MIRROR / "keras/models" / NOTOP, root / "mobilenet" / NOTOP)
    monkeypatch.setenv(backbones.ORIGIN_ENV, origin)
    assert backbones.locate_weights("mobilenet_0.25").where == f"{origin}mobilenet/{NOTOP}"
    backbone = backbones.load("mobilenet_0.25", "cpu")  # cpu: real weights or an error, never a stand-in
    target = tmp_path / "keras_home" / "models" / NOTOP
    assert backbone.weights_path == str(target) and backbone.pretrained and backbone.label == "mobilenet_0.25"
    assert requested == [f"/mobilenet/{NOTOP}"]
    assert data.file_digest(target) == data.read_sha256sums(MIRROR / "keras/models")[NOTOP]
    reference = backbones.load("mobilenet", "cpu", alpha=0.25, weights=MIRROR / "keras/models" / NOTOP)
    np.testing.assert_array_equal(backbone.model.get_layer("conv1").kernel.numpy(),
                                  reference.model.get_layer("conv1").kernel.numpy())  # fmt: skip
    backbones.load("mobilenet_0.25", "cpu")  # the second time it comes from the Keras cache
    assert len(requested) == 1


@needs_weights
def test_a_truncated_download_is_rejected_and_removed_never_loaded(server, monkeypatch, tmp_path, capsys):
    root, origin, requested = server
    (root / "mobilenet").mkdir()
    good = (MIRROR / "keras/models" / NOTOP).read_bytes()
    (root / "mobilenet" / NOTOP).write_bytes(good[: len(good) // 2])
    monkeypatch.setenv(backbones.ORIGIN_ENV, origin)
    with pytest.raises(FileNotFoundError) as error:
        backbones.load("mobilenet_0.25", "full")
    message = str(error.value)
    assert f"{NOTOP} is not a complete HDF5" in message and "(removed)" in message
    assert "1. go online" in message and "keras/models" in message
    assert requested == [f"/mobilenet/{NOTOP}"]
    assert not (tmp_path / "keras_home" / "models" / NOTOP).exists()
    backbone = backbones.load("mobilenet_0.25", "smoke")  # smoke goes on, and says why in its banner
    assert not backbone.pretrained and "not a complete HDF5" in capsys.readouterr().out


def test_an_unreachable_origin_is_reported_with_the_fixes(monkeypatch):
    monkeypatch.setenv(backbones.ORIGIN_ENV, "http://127.0.0.1:9/")  # the discard port: nothing listens
    with pytest.raises(FileNotFoundError, match="host not reachable"):
        backbones.resolve_weights("resnet50")


def test_tfds_cats_vs_dogs_runs_under_mock_data_with_caps_and_splits(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):  # tfds' own offline stand-in: random images, real feature spec
        full = images.load_tfds(data_dir=tmp_path / "tfds", seed=0)
        capped = images.load_tfds(data_dir=tmp_path / "tfds", seed=0, max_per_class=6)
        found = images.load_cats_vs_dogs(seed=0, max_per_class=6, data_dir=tmp_path / "tfds")  # nothing local
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
