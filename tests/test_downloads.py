"""Online paths run through their real code, offline: files are served by a local HTTP server on 127.0.0.1.

Fashion-MNIST (directly and through an HTTP proxy), the cats-vs-dogs fallback when tensorflow-datasets fails,
and the network probe; the ISIC/HAM10000 release in test_downloads_isic.py.
"""

import inspect
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.test_data import make_fashion
from tlkeras import data, images


@pytest.fixture
def fashion_server(isolated, serve, monkeypatch):
    """A local server of four small Fashion-MNIST files, set as the download origin: (folder, URL, requests)."""
    folder = make_fashion(isolated / "served", train=9, test=3)
    url, requested = serve(folder)
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, url)
    return folder, url, requested


def test_fashion_mnist_download_lands_in_the_keras_cache_and_loads(isolated, fashion_server, monkeypatch):
    folder, url, requested = fashion_server
    (x_train, y_train), (x_test, _) = data.load_fashion_mnist()
    assert x_train.shape == (9, 28, 28) and x_test.shape == (3, 28, 28)
    cached = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(data.FASHION_FILES)
    assert sorted(requested) == sorted(f"/{name}" for name in data.FASHION_FILES)
    # the second load reads the cache: the server is no longer needed
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, "http://127.0.0.1:9/")
    (again, _), _ = data.load_fashion_mnist()
    np.testing.assert_array_equal(again, x_train)
    assert len(requested) == 4


def test_fashion_mnist_truncated_download_is_rejected_and_removed(isolated, fashion_server):
    folder, url, _ = fashion_server
    damaged = folder / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:60])
    with pytest.raises(FileNotFoundError) as error:
        data.load_fashion_mnist()
    assert "t10k-images-idx3-ubyte.gz is damaged" in str(error.value), str(error.value)
    cached = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert not cached.exists() or not any(cached.iterdir()), "a bad download must not stay behind to be trusted"


def test_fashion_mnist_missing_file_on_the_server_is_named_and_the_partial_download_removed(isolated, fashion_server):
    folder, url, _ = fashion_server
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist()
    cached = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == ["train-images-idx3-ubyte.gz"]  # complete: kept to resume


def test_the_real_origins_are_the_libraries_own():
    import keras

    assert data.FASHION_ORIGIN in inspect.getsource(keras.datasets.fashion_mnist.load_data)
    tfds = pytest.importorskip("tensorflow_datasets")
    assert images.TFDS_URL == tfds.image_classification.cats_vs_dogs._URL


# ---- proxies and the network probe ----------------------------------------------------------------------


def test_the_probe_and_the_download_go_through_an_http_proxy(isolated, fashion_server, proxy, monkeypatch):
    """Behind a proxy the origin's name resolves only at the proxy (here: any *.test host is 127.0.0.1)."""
    _, url, _ = fashion_server
    proxy_url, forwarded = proxy
    origin = url.replace("127.0.0.1", "tlkeras-origin.test")
    assert data.reachable(url) and not data.reachable(origin)  # direct: the server answers, the name does not
    monkeypatch.setenv("http_proxy", proxy_url)
    assert data.reachable(origin)
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, origin)
    (x_train, _), _ = data.load_fashion_mnist()  # keras.utils.get_file through the proxy
    assert len(x_train) == 9 and sum(name in " ".join(forwarded) for name in data.FASHION_FILES) == 4
    monkeypatch.setenv("no_proxy", "tlkeras-origin.test")  # NO_PROXY: straight to a name nothing resolves
    assert not data.reachable(origin)


def test_a_proxy_that_cannot_reach_the_server_is_not_counted_as_online(isolated, proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", proxy[0])
    assert not data.reachable("http://127.0.0.1:9/")  # the proxy answers 502: the server is not there


# ---- cats vs dogs: the tutorial archive when tensorflow-datasets fails ------------------------------------


def filtered_zip(path, per_class=(4, 2)):
    """A small `cats_and_dogs_filtered.zip` in the tutorial's layout (train/ and validation/, cats and dogs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = path.parent / "picture.jpg"
    with zipfile.ZipFile(path, "w") as archive:
        for part, count in zip(("train", "validation"), per_class):
            for c, name in enumerate(("cats", "dogs")):
                for i in range(count):
                    Image.new("RGB", (40, 32), (60 * c, 20 * i, 90)).save(picture, "JPEG")
                    archive.write(picture, f"cats_and_dogs_filtered/{part}/{name}/{name[:3]}.{i}.jpg")
    picture.unlink()
    return path


def test_cats_vs_dogs_falls_back_to_the_tutorial_archive_when_tfds_fails(isolated, serve, monkeypatch, capsys):
    tfds = pytest.importorskip("tensorflow_datasets")
    folder = isolated / "served"
    filtered_zip(folder / images.FILTERED_ZIP)
    url, requested = serve(folder)
    monkeypatch.setenv(images.FILTERED_ENV, url)
    # tfds downloads from its builder's _URL: pointed at the local server, where nothing is (a 404)
    monkeypatch.setattr(tfds.image_classification.cats_vs_dogs, "_URL", url + "tfds/kagglecatsanddogs_5340.zip")
    monkeypatch.setenv("TFDS_DATA_DIR", str(isolated / "tfds"))
    plan = images.load_cats_vs_dogs(plan_only=True)
    assert plan.urls == (images.TFDS_URL, url + images.FILTERED_ZIP)
    splits = images.load_cats_vs_dogs(seed=0)
    assert "/tfds/kagglecatsanddogs_5340.zip" in requested and f"/{images.FILTERED_ZIP}" in requested
    assert splits.source.startswith(f"fallback:{images.FILTERED_ZIP} from {url}")
    assert "FALLBACK" in capsys.readouterr().out
    assert splits.class_names == ["cats", "dogs"] and [splits.count("train"), splits.count("validation")] == [8, 4]
    cached = isolated / "home" / ".keras" / "datasets" / images.NAME
    assert sorted(p.name for p in cached.iterdir()) == ["train", "validation"]
    assert not (cached.parent / images.FILTERED_ZIP).exists()  # extracted, then removed
    again = images.load_cats_vs_dogs(seed=0)  # the Keras cache place now holds it: nothing is downloaded
    assert again.source == f"folder:{cached}" and again.paths("validation") == splits.paths("validation")
    assert images.load_cats_vs_dogs(plan_only=True).where == f"Keras cache: {cached}"


def test_a_damaged_fallback_archive_is_removed_and_named(isolated, serve, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    folder = isolated / "served"
    whole = filtered_zip(folder / images.FILTERED_ZIP).read_bytes()
    (folder / images.FILTERED_ZIP).write_bytes(whole[: len(whole) // 2])
    url, _ = serve(folder)
    monkeypatch.setenv(images.FILTERED_ENV, url)
    monkeypatch.setattr(tfds.image_classification.cats_vs_dogs, "_URL", url + "tfds/missing.zip")
    monkeypatch.setenv("TFDS_DATA_DIR", str(isolated / "tfds"))
    with pytest.raises(FileNotFoundError, match=f"{images.FILTERED_ZIP} is not a complete zip file"):
        images.load_cats_vs_dogs()
    datasets = isolated / "home" / ".keras" / "datasets"
    assert not (datasets / images.FILTERED_ZIP).exists() and not (datasets / images.NAME).exists()
