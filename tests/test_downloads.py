"""Online paths run through their real code, offline: files are served by a local HTTP server on 127.0.0.1.

Fashion-MNIST here; ImageNet weights, tfds cats_vs_dogs and the ISIC/HAM10000 release in
test_downloads_weights.py and test_downloads_isic.py.
"""

import shutil

import numpy as np
import pytest

from tests.test_data import make_fashion
from tlkeras import data


@pytest.fixture
def fashion_server(tmp_path, serve):
    folder = make_fashion(tmp_path / "served", train=9, test=3)
    return folder, serve(folder)


def test_fashion_mnist_download_lands_in_the_keras_cache_and_loads(isolated, fashion_server):
    folder, url = fashion_server
    (x_train, y_train), (x_test, _) = data.load_fashion_mnist(origin=url)
    assert x_train.shape == (9, 28, 28) and x_test.shape == (3, 28, 28)
    cached = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(data.FASHION_FILES)
    # the second load reads the cache: the server is no longer needed
    (again, _), _ = data.load_fashion_mnist(origin="http://127.0.0.1:9/")
    np.testing.assert_array_equal(again, x_train)


def test_fashion_mnist_truncated_download_is_rejected_and_removed(isolated, fashion_server):
    folder, url = fashion_server
    damaged = folder / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:60])
    with pytest.raises(FileNotFoundError) as error:
        data.load_fashion_mnist(origin=url)
    assert "t10k-images-idx3-ubyte.gz is damaged" in str(error.value), str(error.value)
    cached = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert not any(cached.glob("*.gz")), "a bad download must not stay behind to be trusted later"


def test_fashion_mnist_missing_file_on_the_server_is_named(isolated, fashion_server):
    folder, url = fashion_server
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(origin=url)


def test_the_real_origin_is_keras_own(monkeypatch):
    import inspect

    import keras

    source = inspect.getsource(keras.datasets.fashion_mnist.load_data)
    assert data.FASHION_ORIGIN in source, "our origin must be the address keras.datasets uses"
    assert shutil.which("python3")
