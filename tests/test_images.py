"""Tests for tlkeras.images: layouts, bad files, deterministic splits and the tf.data pipeline."""
import pathlib

import numpy as np
import pytest
from PIL import Image

from tlkeras import images

MIRROR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "cats_vs_dogs"


def _photo(path, size=(40, 32), mode="RGB", fmt="JPEG", seed=0):
    """Write a small random image (a plumbing fixture, not data) and return its path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, fmt)
    return path


def _flat(root, n=4, classes=("cat", "dog")):
    for c, name in enumerate(classes):
        for i in range(n):
            _photo(root / name / f"{name}.{i}.jpg", seed=10 * c + i)
    return root


def test_good_files_pass_and_odd_ones_are_converted(tmp_path):
    assert images.check_image(_photo(tmp_path / "a.jpg")) == (True, "")
    usable, note = images.check_image(_photo(tmp_path / "cmyk.jpg", mode="CMYK"))
    assert usable and "CMYK" in note
    usable, note = images.check_image(_photo(tmp_path / "gray.jpg", mode="L"))
    assert usable and "L image" in note
    usable, note = images.check_image(_photo(tmp_path / "png.jpg", fmt="PNG"))
    assert usable and "PNG data named .jpg" in note
    usable, note = images.check_image(_photo(tmp_path / "gif.jpg", mode="P", fmt="GIF"))
    assert usable and "GIF" in note


def test_bad_files_are_rejected_with_a_reason(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    good = _photo(tmp_path / "big.jpg", size=(120, 90)).read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[: len(good) // 2])
    tiny = _photo(tmp_path / "tiny.jpg", size=(8, 8))
    tiff = _photo(tmp_path / "scan.jpg", fmt="TIFF")
    assert images.check_image(empty) == (False, "empty file (0 bytes)")
    assert images.check_image(text) == (False, "not an image file")
    usable, reason = images.check_image(truncated)
    assert not usable and "unreadable JPEG" in reason
    usable, reason = images.check_image(tiny)
    assert not usable and "too small" in reason
    usable, reason = images.check_image(tiff)
    assert not usable and "TIFF" in reason


def test_scan_skips_and_reports_bad_files(tmp_path, capsys):
    root = _flat(tmp_path / "pets")
    (root / "cat" / "zero.jpg").write_bytes(b"")
    (root / "dog" / "README.txt").write_text("hello")
    _photo(root / "dog" / "dog.png.jpg", fmt="PNG")
    folder = images.scan_folder(root)
    assert folder.class_names == ["cat", "dog"]
    assert len(folder.files) == 9 and sorted(np.bincount(folder.labels)) == [4, 5]
    assert sorted(pathlib.Path(p).name for p, _ in folder.skipped) == ["README.txt", "zero.jpg"]
    out = capsys.readouterr().out
    assert "skipped 2" in out and "zero.jpg" in out and "README.txt" in out


def test_empty_class_folder_is_dropped_and_reported(tmp_path, capsys):
    root = _flat(tmp_path / "pets", classes=("cat", "dog", "fox"))
    for path in (root / "fox").iterdir():
        path.unlink()
    folder = images.scan_folder(root)
    assert folder.class_names == ["cat", "dog"]
    assert "dropped empty class folder(s): ['fox']" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["single_class", "empty_class", "no_folders", "only_bad_files"])
def test_unusable_layouts_raise_value_error_naming_the_layout(tmp_path, make):
    root = tmp_path / "pets"
    if make == "single_class":
        _flat(root, classes=("cat",))
    elif make == "empty_class":
        _flat(root, classes=("cat",))
        (root / "dog").mkdir()
    elif make == "no_folders":
        _photo(root / "cat.0.jpg")
    else:
        for name in ("cat", "dog"):
            (root / name).mkdir(parents=True)
            (root / name / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="Expected one folder per class"):
        images.scan_folder(root, verbose=False)


def test_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.scan_folder(tmp_path / "nowhere")


def test_split_layout_keeps_its_folders(tmp_path):
    root = tmp_path / "cats_and_dogs_filtered"
    _flat(root / "train", n=5, classes=("cats", "dogs"))
    _flat(root / "validation", n=2, classes=("cats", "dogs"))
    splits = images.split_folder(root, verbose=False)
    assert splits.class_names == ["cats", "dogs"]
    assert (splits.count("train"), splits.count("validation")) == (10, 4)
    assert all("/validation/" in path for path in splits.parts["validation"][0])


def test_split_layout_without_validation_raises(tmp_path):
    _flat(tmp_path / "pets" / "train")
    with pytest.raises(ValueError, match="no validation"):
        images.split_folder(tmp_path / "pets", verbose=False)


def test_split_is_stratified_deterministic_and_disjoint():
    labels = np.repeat([0, 1], 50)
    first = images.split_indices(labels, seed=3, validation_fraction=0.2, test_fraction=0.1)
    again = images.split_indices(labels, seed=3, validation_fraction=0.2, test_fraction=0.1)
    other = images.split_indices(labels, seed=4, validation_fraction=0.2, test_fraction=0.1)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["validation"], other["validation"])
    assert [len(first[k]) for k in ("train", "validation", "test")] == [70, 20, 10]
    assert np.bincount(labels[first["validation"]]).tolist() == [10, 10]
    assert len(np.unique(np.concatenate(list(first.values())))) == 100
    with pytest.raises(ValueError):
        images.split_indices(labels, validation_fraction=0.7, test_fraction=0.3)


def test_pipeline_decodes_odd_files_resizes_and_preprocesses(tmp_path):
    root = _flat(tmp_path / "pets", n=3)
    _photo(root / "cat" / "cmyk.jpg", mode="CMYK", size=(50, 20))
    _photo(root / "dog" / "gray.jpg", mode="L")
    _photo(root / "dog" / "really_a.png.jpg", fmt="PNG")
    _photo(root / "dog" / "really_a.gif.jpg", mode="P", fmt="GIF")
    splits = images.split_folder(root, validation_fraction=0.25, verbose=False)
    assert splits.count("train") + splits.count("validation") == 10
    dataset = splits.dataset("train", 24, preprocess=lambda x: x / 127.5 - 1.0, batch_size=4)
    batches = list(dataset.as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (splits.count("train"), 24, 24, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y, splits.labels("train"))


def test_pipeline_cache_then_augment_changes_each_epoch(tmp_path):
    root = _flat(tmp_path / "pets", n=4)
    splits = images.split_folder(root, validation_fraction=0.25, verbose=False)
    augment = images.augmentation(flip=False, rotation=0.2, zoom=0.2, seed=1)
    dataset = splits.dataset("train", 32, batch_size=8, augment=augment)
    first = next(iter(dataset))[0].numpy()
    second = next(iter(dataset))[0].numpy()
    assert not np.allclose(first, second)
    plain = splits.dataset("train", 32, batch_size=8)
    np.testing.assert_array_equal(next(iter(plain))[0].numpy(), next(iter(plain))[0].numpy())


def test_fingerprint_follows_file_content(tmp_path):
    root = _flat(tmp_path / "pets", n=4)
    before = images.split_folder(root, verbose=False).fingerprint("train")
    assert images.split_folder(root, verbose=False).fingerprint("train") == before
    for path in (root / "cat").iterdir():
        _photo(path, seed=99)
    assert images.split_folder(root, verbose=False).fingerprint("train") != before


@pytest.mark.skipif(not MIRROR.is_dir(), reason="offline mirror not present")
def test_mirror_loads_with_a_seeded_split(monkeypatch):
    monkeypatch.setenv("TLKERAS_MIRROR", str(MIRROR.parent))
    splits = images.load_cats_vs_dogs(seed=0, verbose=False)
    assert splits.class_names == ["cat", "dog"] and not splits.skipped
    assert (splits.count("train"), splits.count("validation")) == (1280, 320)
    assert np.bincount(splits.labels("validation")).tolist() == [160, 160]
    again = images.load_cats_vs_dogs(seed=0, verbose=False)
    assert again.parts["validation"][0] == splits.parts["validation"][0]


def test_tfds_path_builds_the_same_pipeline(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):  # tfds' own offline stand-in: random images, real feature spec
        splits = images.load_tfds(data_dir=tmp_path / "tfds", seed=0, validation_fraction=0.25)
        assert splits.class_names == ["cat", "dog"] and splits.source.startswith("tfds:cats_vs_dogs")
        assert list(splits.parts) == ["train", "validation"]
        x, y = next(iter(splits.dataset("train", 40, preprocess=lambda v: v / 255.0, batch_size=4)))
        assert x.shape == (4, 40, 40, 3) and float(x.numpy().max()) <= 1.0
        assert len(splits.labels("validation")) == splits.count("validation")
        assert splits.fingerprint("train") == splits.fingerprint("train")
