import gzip
import hashlib

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


def test_search_order(isolated, monkeypatch):
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    found = data.places("fashion-mnist", path=isolated / "explicit", debian=True)
    assert [place.label for place in found] == ["path argument", "$TLKERAS_MIRROR", "Keras cache", "Debian package"]
    assert [place.explicit for place in found] == [True, False, False, False]
    weights = data.places("ignored", kind="models")
    assert weights[0].path == isolated / "mirror" / "keras" / "models"
    assert weights[1].path == isolated / "home" / ".keras" / "models"


def test_plan_notes_broken_places_but_raises_for_an_explicit_one(isolated, monkeypatch):
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (isolated / "mirror" / "thing").mkdir(parents=True)
    (isolated / "home" / ".keras" / "datasets" / "thing").mkdir(parents=True)

    def check(folder):
        if "mirror" in str(folder):
            raise data.DataFileError("broken file x.bin")
        return "ok"

    plan = data.plan("Thing", "thing", check, urls=("http://127.0.0.1:9/",))
    assert (plan.found, plan.place.label, plan.kind, plan.urls) == ("ok", "Keras cache", "local", ())
    assert plan.problems == [f"$TLKERAS_MIRROR: {isolated / 'mirror' / 'thing'} (broken file x.bin)"]
    (isolated / "explicit").mkdir()
    with pytest.raises(data.DataFileError, match="x.bin"):
        data.plan("Thing", "thing", lambda folder: check(isolated / "mirror"), path=isolated / "explicit")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.plan("Thing", "thing", check, path=isolated / "nowhere")


def test_explicit_path_is_used_first(isolated, monkeypatch):
    make_fashion(isolated / "explicit", train=3)
    make_fashion(isolated / "mirror" / "fashion-mnist", train=5)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, y_train), (x_test, _) = data.load_fashion_mnist(path=isolated / "explicit")
    assert x_train.shape == (3, 28, 28) and y_train.shape == (3,) and x_test.shape == (4, 28, 28)


@pytest.mark.parametrize("label", ["$TLKERAS_MIRROR", "Keras cache", "Debian package"])
def test_each_location_is_found(isolated, monkeypatch, label):
    folder = {
        "$TLKERAS_MIRROR": isolated / "mirror" / "fashion-mnist",
        "Keras cache": isolated / "home" / ".keras" / "datasets" / "fashion-mnist",
        "Debian package": isolated / "usr-share-datasets" / "fashion-mnist",
    }[label]
    make_fashion(folder, train=7)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, _), _ = data.load_fashion_mnist(download=False)
    assert len(x_train) == 7
    assert data.load_fashion_mnist(plan_only=True).where == f"{label}: {folder}"


def test_nothing_found_lists_places_and_fixes(isolated, monkeypatch):
    assert data.load_fashion_mnist(plan_only=True).urls == (data.FASHION_ORIGIN,)
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, "http://127.0.0.1:9/")  # port 9 (discard): refused at once
    with pytest.raises(FileNotFoundError) as error:
        data.load_fashion_mnist()
    message = str(error.value)
    for expected in (
        "Keras cache",
        "Debian package",
        "download from http://127.0.0.1:9/",
        "apt-get install dataset-fashion-mnist",
        "TLKERAS_MIRROR",
        "go online",
    ):
        assert expected in message
    plan = data.load_fashion_mnist(plan_only=True)
    assert (plan.kind, plan.urls) == ("download", ("http://127.0.0.1:9/",))


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


def test_mismatched_counts_and_bad_labels_are_reported(isolated):
    folder = make_fashion(isolated / "explicit", train=6)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(data.DataFileError, match="expected \\(n, 28, 28\\) and \\(n,\\)"):
        data.load_fashion_mnist(path=folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(6, 12))
    with pytest.raises(data.DataFileError, match="label 12"):
        data.load_fashion_mnist(path=folder)


def test_not_gzip_at_all_is_reported(isolated):
    folder = make_fashion(isolated / "explicit")
    (folder / "train-labels-idx1-ubyte.gz").write_text("<html>404 Not Found</html>")
    with pytest.raises(data.DataFileError, match="train-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(path=folder)


def test_corrupt_mirror_falls_through_to_next_place(isolated, monkeypatch):
    mirror = make_fashion(isolated / "mirror" / "fashion-mnist")
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    make_fashion(isolated / "home" / ".keras" / "datasets" / "fashion-mnist", train=2)
    monkeypatch.setenv(config.MIRROR_ENV, str(isolated / "mirror"))
    (x_train, _), _ = data.load_fashion_mnist(download=False)
    assert len(x_train) == 2


def test_sha256sums_are_checked(isolated):
    folder = make_fashion(isolated / "explicit")
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  ./{n}" for n in data.FASHION_FILES]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    assert data.verify_file(folder / data.FASHION_FILES[0]) is True
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.bin").write_bytes(b"x")
    assert data.verify_file(folder / "sub" / "extra.bin") is False  # the manifest above does not list it
    data.load_fashion_mnist(path=folder)
    # same size, one byte changed inside the gzip stream's stored name: still a valid IDX, but not the listed file
    make_fashion(folder, train=6, test=4)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.ones(4))
    with pytest.raises(data.DataFileError, match="t10k-labels-idx1-ubyte.gz does not match its SHA256SUMS"):
        data.load_fashion_mnist(path=folder)
    (isolated / "nothing-listed.bin").write_bytes(b"")
    assert data.verify_file(isolated / "nothing-listed.bin") is False


def test_missing_explicit_path_is_clear(isolated):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_fashion_mnist(path=isolated / "nowhere")


def test_real_mirror(mirror):
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert sorted(np.unique(y_train)) == list(range(10)) and np.bincount(y_test).tolist() == [1000] * 10


def test_a_manifest_one_level_up_is_keyed_by_relative_path(isolated):
    """The mirror's skin_lesion/SHA256SUMS lists ./ham10000_224/labels.csv: looked up by path, not by bare name."""
    (isolated / "set" / "a").mkdir(parents=True)
    (isolated / "set" / "b").mkdir()
    (isolated / "set" / "a" / "labels.csv").write_text("one")
    (isolated / "set" / "b" / "labels.csv").write_text("two")
    digest = hashlib.sha256(b"one").hexdigest()
    (isolated / "set" / "SHA256SUMS").write_text(f"{digest}  ./a/labels.csv\n{digest}  ./b/labels.csv\n")
    assert data.verify_file(isolated / "set" / "a" / "labels.csv") is True
    with pytest.raises(data.DataFileError, match="b/labels.csv does not match"):
        data.verify_file(isolated / "set" / "b" / "labels.csv")


def test_the_plan_is_where_the_loader_reads_even_when_a_copy_is_damaged(isolated):
    """The case the old `locate_fashion_mnist` got wrong: it saw four files in the Keras cache and said "Keras
    cache", while the loader found one truncated there and read the Debian copy. The plan runs the loader's own
    check, so it names the Debian copy, and the loader reads exactly that."""
    cached = make_fashion(isolated / "home" / ".keras" / "datasets" / "fashion-mnist", train=5)
    damaged = cached / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:40])
    debian = make_fashion(isolated / "usr-share-datasets" / "fashion-mnist", train=7)
    assert all((cached / name).is_file() for name in data.FASHION_FILES)  # what the old presence check saw
    plan = data.load_fashion_mnist(plan_only=True)
    assert (plan.kind, plan.place.label, plan.place.path) == ("local", "Debian package", debian)
    assert "train-images-idx3-ubyte.gz is damaged" in plan.problems[-1]
    (x_train, _), _ = data.load_fashion_mnist()
    assert len(x_train) == 7


def test_offline_plans_no_download_and_the_loader_fetches_nothing(isolated, monkeypatch):
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, "http://127.0.0.1:9/")
    plan = data.load_fashion_mnist(plan_only=True)
    assert plan.kind == "missing" and plan.urls == () and "TLKERAS_OFFLINE is set" in plan.problems[-1]
    with pytest.raises(FileNotFoundError, match="TLKERAS_OFFLINE is set"):
        data.load_fashion_mnist()
    with pytest.raises(ConnectionError, match="TLKERAS_OFFLINE"):
        data.fetch({"x.bin": "http://127.0.0.1:9/x.bin"}, "datasets/x")
