"""Tests for tlkeras.images: the checked-file scan, the streaming pipeline, layouts, caps and the search order."""

import pathlib
import shutil

import numpy as np
import pytest
from PIL import Image

from tlkeras import data, images


def _photo(path, size=(40, 32), mode="RGB", fmt="JPEG", seed=0):
    """Write a small random image (a plumbing fixture, not data) and return its path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    # Pillow 10 cannot convert RGB to I;16, so a 16-bit image is built from 16-bit values
    image = (
        Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
        if mode == "I;16"
        else Image.fromarray(pixels).convert(mode)
    )
    image.save(path, fmt)
    return path


def _flat(root, n=4, classes=("cat", "dog")):
    for c, name in enumerate(classes):
        for i in range(n):
            _photo(root / name / f"{name}.{i}.jpg", seed=10 * c + i)
    return root


def test_good_files_and_odd_ones_tensorflow_decodes_pass(tmp_path):
    assert images.check_image(_photo(tmp_path / "a.jpg")) is None
    assert images.check_image(_photo(tmp_path / "cmyk.jpg", mode="CMYK")) is None
    assert images.check_image(_photo(tmp_path / "gray.jpg", mode="L")) is None
    assert images.check_image(_photo(tmp_path / "png.jpg", fmt="PNG")) is None
    assert images.check_image(_photo(tmp_path / "gif.jpg", mode="P", fmt="GIF")) is None
    assert images.check_image(_photo(tmp_path / "deep.png", mode="I;16", fmt="PNG")).endswith(
        "(16/32-bit) PNG is not supported"
    )  # Pillow 10 opens it as "I", later ones as "I;16"


def test_readable_skips_bad_files_with_a_reason(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    good = _photo(tmp_path / "big.jpg", size=(120, 90))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    tiny = _photo(tmp_path / "tiny.jpg", size=(8, 8))
    tiff = _photo(tmp_path / "scan.jpg", fmt="TIFF")
    missing = tmp_path / "gone.jpg"
    usable, skipped = images.readable([empty, good, text, truncated, tiny, tiff, missing])
    assert usable == [1]
    reasons = {path.name: reason for path, reason in skipped}
    assert reasons["empty.jpg"] == "empty file (0 bytes)" and reasons["notes.jpg"] == "not an image file"
    assert "unreadable JPEG" in reasons["truncated.jpg"] and "too small" in reasons["tiny.jpg"]
    assert "TIFF" in reasons["scan.jpg"] and "cannot read" in reasons["gone.jpg"] and len(skipped) == 6


def test_dataset_streams_odd_files_resized_and_preprocessed(tmp_path):
    files = [_photo(tmp_path / "a.jpg"), _photo(tmp_path / "cmyk.jpg", mode="CMYK", size=(50, 20)),
             _photo(tmp_path / "gray.jpg", mode="L"), _photo(tmp_path / "png.jpg", fmt="PNG"),
             _photo(tmp_path / "gif.jpg", mode="P", fmt="GIF")]  # fmt: skip
    labels = np.array([0, 1, 0, 1, 1])
    batches = list(images.dataset(files, labels, 24, preprocess=lambda x: x / 127.5 - 1.0, batch_size=2))
    assert [len(y) for _, y in batches] == [2, 2, 1]
    x = np.concatenate([b.numpy() for b, _ in batches])
    assert x.shape == (5, 24, 24, 3) and x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), labels)
    raw = next(iter(images.dataset(files[:1], [0], (16, 30))))[0].numpy()
    assert raw.shape == (1, 16, 30, 3) and raw.max() > 2.0  # 0..255 without preprocess, height x width


def test_dataset_accepts_label_arrays_and_rejects_mismatches(tmp_path):
    files = [_photo(tmp_path / f"{i}.jpg", seed=i) for i in range(3)]
    onehot = np.eye(3, dtype="float32")
    _, y = next(iter(images.dataset(files, onehot, 16, batch_size=3)))
    np.testing.assert_array_equal(y.numpy(), onehot)
    with pytest.raises(ValueError, match="3 image files but 2 labels"):
        images.dataset(files, [0, 1], 16)
    with pytest.raises(ValueError, match="no image files"):
        images.dataset([], [], 16)


def test_dataset_shuffle_is_seeded_and_augmentation_acts_only_in_training(tmp_path):
    files = [_photo(tmp_path / f"{i}.jpg", seed=i) for i in range(12)]
    labels = np.arange(12)

    def order(seed):
        return np.concatenate([y.numpy() for _, y in images.dataset(files, labels, 16, shuffle=True, seed=seed)])

    first = images.dataset(files, labels, 16, batch_size=12, shuffle=True, seed=3)
    epoch1, epoch2 = (np.concatenate([y.numpy() for _, y in first]) for _ in range(2))
    assert sorted(epoch1) == list(range(12)) and not np.array_equal(epoch1, epoch2)  # reshuffled every epoch
    np.testing.assert_array_equal(order(3), epoch1)  # the same seed gives the same order
    assert not np.array_equal(order(4), epoch1)
    plain = images.dataset(files, labels, 32, batch_size=12)
    batch = next(iter(plain))[0]
    np.testing.assert_array_equal(batch.numpy(), next(iter(plain))[0].numpy())  # no randomness in the pipeline
    augment = images.augmentation(seed=1)
    assert not np.allclose(augment(batch, training=True), augment(batch, training=True))  # new draws every call
    np.testing.assert_array_equal(augment(batch, training=False), batch.numpy())


def test_read_folder_skips_and_reports_bad_files(tmp_path):
    root = _flat(tmp_path / "pets")
    (root / "cat" / "zero.jpg").write_bytes(b"")
    (root / "dog" / "README.txt").write_text("hello")
    _photo(root / "dog" / "dog.png.jpg", fmt="PNG")
    splits = images.read_folder(root, fractions=(0.5, 0.5))
    assert splits.class_names == ["cat", "dog"]
    assert splits.count("train") + splits.count("validation") == 9
    assert sorted(path.name for path, _ in splits.skipped) == ["README.txt", "zero.jpg"]
    assert "skipped 2 files" in splits.summary() and "zero.jpg: empty file" in splits.summary()


def test_an_empty_class_folder_is_dropped_and_reported(tmp_path, capsys):
    root = _flat(tmp_path / "pets", classes=("cat", "dog", "fox"))
    for path in (root / "fox").iterdir():
        path.write_bytes(b"")
    splits = images.read_folder(root)
    assert splits.class_names == ["cat", "dog"] and set(splits.labels("train")) == {0, 1}
    assert "without usable images: ['fox']" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["single_class", "empty_class", "no_folders", "only_bad_files", "train_only"])
def test_unusable_layouts_raise_value_error_naming_the_layout(tmp_path, make):
    root = tmp_path / "pets"
    if make in ("single_class", "empty_class"):
        _flat(root, classes=("cat",))
        if make == "empty_class":
            (root / "dog").mkdir()
    elif make == "no_folders":
        _photo(root / "cat.0.jpg")
    elif make == "train_only":
        _flat(root / "train")
    else:
        for name in ("cat", "dog"):
            (root / name).mkdir(parents=True)
            (root / name / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="Expected one folder per class"):
        images.read_folder(root)


def test_a_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        images.read_folder(tmp_path / "nowhere")


def test_the_split_layout_keeps_its_folders_and_caps_each_split(tmp_path):
    root = tmp_path / "cats_and_dogs_filtered"
    _flat(root / "train", n=6, classes=("cats", "dogs"))
    _flat(root / "validation", n=3, classes=("cats", "dogs"))
    _flat(root / "test", n=2, classes=("cats", "dogs"))
    splits = images.read_folder(root)
    assert splits.class_names == ["cats", "dogs"]
    assert [splits.count(name) for name in ("train", "validation", "test")] == [12, 6, 4]
    assert all(path.parent.parent.name == "validation" for path in splits.paths("validation"))
    capped = images.read_folder(root, max_per_class=4)  # 11 per class: each split keeps its share
    counts = {name: np.bincount(capped.labels(name)).tolist() for name in capped.parts}
    assert counts == {"train": [3, 3], "validation": [2, 2], "test": [1, 1]}


def test_flat_folders_are_split_by_tlk_sampling_and_capped_before_checking(tmp_path):
    root = _flat(tmp_path / "pets", n=10)
    splits = images.read_folder(root, seed=3, fractions=(0.6, 0.2, 0.2))
    assert [splits.count(name) for name in ("train", "validation", "test")] == [12, 4, 4]
    assert np.bincount(splits.labels("validation")).tolist() == [2, 2]
    again = images.read_folder(root, seed=3, fractions=(0.6, 0.2, 0.2))
    assert again.paths("validation") == splits.paths("validation")
    other = images.read_folder(root, seed=4, fractions=(0.6, 0.2, 0.2))
    assert other.paths("validation") != splits.paths("validation")
    (root / "cat" / "cat.0.jpg").write_bytes(b"")  # a broken file is only noticed when the cap keeps it
    capped = [images.read_folder(root, seed=s, max_per_class=3) for s in range(6)]
    assert all(sum(c.count(n) for n in c.parts) + len(c.skipped) == 6 for c in capped)
    assert {len(c.skipped) for c in capped} == {0, 1}
    with pytest.raises(ValueError, match="fractions"):
        images.read_folder(root, fractions=(0.7, 0.7))


def test_a_file_that_fails_its_sha256sums_entry_is_skipped(tmp_path):
    root = _flat(tmp_path / "pets")
    sums = [f"{data.file_digest(p)}  ./{p.relative_to(root).as_posix()}" for p in sorted(root.rglob("*.jpg"))]
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    _photo(root / "dog" / "dog.1.jpg", seed=99)  # still a good JPEG, but not the listed one
    splits = images.read_folder(root)
    assert [(path.name, "SHA256SUMS" in reason) for path, reason in splits.skipped] == [("dog.1.jpg", True)]


def test_search_order_path_then_mirror_then_keras_cache_then_a_clear_error(isolated, monkeypatch):
    mine = _flat(isolated / "mine", n=5)
    cached = _flat(isolated / "home" / ".keras" / "datasets" / "cats_vs_dogs", n=3)
    load = dict(download=False)
    assert images.load_cats_vs_dogs(path=mine, **load).source == f"folder:{mine}"
    assert images.load_cats_vs_dogs(**load).source == f"folder:{cached}"
    assert images.load_cats_vs_dogs(plan_only=True).where == f"Keras cache: {cached}"
    broken = isolated / "mirror" / "cats_vs_dogs"
    (broken / "cat").mkdir(parents=True)  # a mirror with an empty class folder: noted, the next place is used
    monkeypatch.setenv("TLKERAS_MIRROR", str(isolated / "mirror"))
    assert images.load_cats_vs_dogs(**load).source == f"folder:{cached}"
    with pytest.raises(ValueError, match="Expected one folder per class"):
        images.load_cats_vs_dogs(path=broken, **load)  # an explicit path is never skipped silently
    with pytest.raises(FileNotFoundError, match="does not exist"):
        images.load_cats_vs_dogs(path=isolated / "typo", **load)
    for path in cached.rglob("*.jpg"):
        path.unlink()
    with pytest.raises(FileNotFoundError) as error:
        images.load_cats_vs_dogs(**load)
    message = str(error.value)
    assert "$TLKERAS_MIRROR" in message and "Keras cache" in message and "download=False" in message
    assert "1. go online" in message and "3. export TLKERAS_MIRROR" in message
    shutil.rmtree(cached)
    monkeypatch.delenv("TLKERAS_MIRROR")
    plan = images.load_cats_vs_dogs(plan_only=True)
    assert plan.kind == "download" and plan.urls[0] == images.TFDS_URL and plan.size_mb == images.TFDS_SIZE_MB


def test_the_plan_skips_a_folder_whose_images_are_all_broken(isolated, monkeypatch):
    """The case the old `locate_cats_vs_dogs` got wrong: it saw class folders in the mirror and said "mirror",
    while the loader found no usable image there and read the Keras cache. The plan runs the loader's check."""
    mirror = _flat(isolated / "mirror" / "cats_vs_dogs", n=2)
    for path in mirror.rglob("*.jpg"):
        path.write_bytes(b"")
    cached = _flat(isolated / "home" / ".keras" / "datasets" / "cats_vs_dogs", n=3)
    monkeypatch.setenv("TLKERAS_MIRROR", str(isolated / "mirror"))
    assert images._split_dirs(mirror) == {None: mirror}  # the old locator's whole check (a flat layout): it passes
    plan = images.load_cats_vs_dogs(plan_only=True)
    assert plan.place.path == cached and "0 class(es) with usable images" in plan.problems[0]
    assert images.load_cats_vs_dogs(download=False).source == f"folder:{cached}"


def test_the_mirror_loads_with_a_seeded_stratified_split_and_a_cap(mirror):
    splits = images.load_cats_vs_dogs(seed=0, download=False)
    assert splits.class_names == ["cat", "dog"] and not splits.skipped
    n = {name: np.bincount(splits.labels(name)).tolist() for name in splits.parts}
    total = [a + b for a, b in zip(n["train"], n["validation"])]
    assert total[0] == total[1] and n["validation"] == [round(0.2 * total[0])] * 2
    capped = images.load_cats_vs_dogs(seed=0, max_per_class=50, download=False)
    assert np.bincount(capped.labels("train")).tolist() == [40, 40]
    assert np.bincount(capped.labels("validation")).tolist() == [10, 10]
