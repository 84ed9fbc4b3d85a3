import gzip
import pathlib

import numpy as np
import pytest

from tlkeras import config, data


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def make_fashion(folder, train=6, test=4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, train))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (test, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, test))
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No mirror, an empty home and no Debian folder, and a download that fails like an offline one."""
    monkeypatch.delenv(config.MIRROR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data, "DEBIAN_ROOT", tmp_path / "usr-share-datasets")

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download_fashion", offline)
    return tmp_path


def test_search_order(isolated, monkeypatch):
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    labels = [label for label, _ in data.search_dirs("fashion-mnist", path=isolated / "explicit")]
    assert labels == ["path argument", "$TLKERAS_MIRROR", "Keras cache", "Debian package"]


def test_explicit_path_is_used_first(isolated, monkeypatch):
    make_fashion(isolated / "explicit", train=3)
    make_fashion(isolated / "mirror" / "fashion-mnist", train=5)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, y_train), (x_test, _) = data.load_fashion_mnist(path=isolated / "explicit")
    assert x_train.shape == (3, 28, 28) and y_train.shape == (3,) and x_test.shape == (4, 28, 28)


@pytest.mark.parametrize("place", ["mirror", "keras_cache", "debian"])
def test_each_location_is_found(isolated, monkeypatch, place):
    folder = {
        "mirror": isolated / "mirror" / "fashion-mnist",
        "keras_cache": isolated / "home" / ".keras" / "datasets" / "fashion-mnist",
        "debian": isolated / "usr-share-datasets" / "fashion-mnist",
    }[place]
    make_fashion(folder, train=7)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, _), _ = data.load_fashion_mnist()
    assert len(x_train) == 7


def test_nothing_found_lists_places_and_fixes(isolated):
    with pytest.raises(FileNotFoundError) as error:
        data.load_fashion_mnist()
    message = str(error.value)
    for expected in ("Keras cache", "Debian package", "network is unreachable",
                     "apt-get install dataset-fashion-mnist", "TLKERAS_MIRROR", "go online"):
        assert expected in message


def test_truncated_gzip_names_the_file(isolated):
    folder = make_fashion(isolated / "explicit")
    damaged = folder / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.raises(data.DataFileError, match="train-images-idx3-ubyte.gz"):
        data.load_fashion_mnist(path=folder)


def test_short_idx_payload_is_reported(isolated):
    folder = make_fashion(isolated / "explicit")
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(data.DataFileError, match="truncated"):
        data.load_fashion_mnist(path=folder)


def test_not_gzip_at_all_is_reported(isolated):
    folder = make_fashion(isolated / "explicit")
    (folder / "train-labels-idx1-ubyte.gz").write_text("<html>404 Not Found</html>")
    with pytest.raises(data.DataFileError, match="train-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(path=folder)


def test_corrupt_mirror_falls_through_to_next_place(isolated, monkeypatch, capsys):
    mirror = make_fashion(isolated / "mirror" / "fashion-mnist")
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    make_fashion(isolated / "home" / ".keras" / "datasets" / "fashion-mnist", train=2)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, _), _ = data.load_fashion_mnist()
    assert len(x_train) == 2


def test_missing_explicit_path_is_clear(isolated):
    with pytest.raises(FileNotFoundError, match="missing"):
        data.load_fashion_mnist(path=isolated / "nowhere")


def test_real_mirror_if_present():
    mirror = config.mirror_dir()
    if mirror is None or not (mirror / "fashion-mnist").is_dir():
        pytest.skip("offline mirror not available")
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert sorted(np.unique(y_train)) == list(range(10))
