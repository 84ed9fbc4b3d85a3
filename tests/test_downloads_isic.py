"""The real ISIC 2018 download path of tlkeras.ham10000, served from a local HTTP server on 127.0.0.1.

A small release in the ISIC layout is built from mirror images (or drawn ones when there is no mirror) and
served by a thread, set as ``$TLKERAS_ISIC_ORIGIN``; `ham10000.load()` downloads it through `tlk.data.fetch` /
`keras.utils.get_file`, checks the zips and counts, and extracts. Broken releases must raise an error that
names the file and leave nothing half-extracted in the cache.
"""

import os
import pathlib
import zipfile

import pytest
from PIL import Image

from tlkeras import config, ham10000

MIRROR = os.environ.get(config.MIRROR_ENV, "")
PER_CLASS = 2


def source_images(tmp_path):
    """(image id, dx, lesion id, JPEG bytes) for PER_CLASS images of each class."""
    folder = pathlib.Path(MIRROR) / "skin_lesion" / "ham10000_224"
    found = []
    for dx in ham10000.CLASSES:
        if folder.is_dir():
            for path in sorted((folder / dx).glob("*.jpg"))[:PER_CLASS]:
                found.append((path.stem, dx, f"HAM_{path.stem[5:]}", path.read_bytes()))
        else:
            for n in range(PER_CLASS):
                image_id, drawn = f"ISIC_{len(found):07d}", tmp_path / "drawn.jpg"
                Image.new("RGB", (64, 48), (30 * n, 100, 200)).save(drawn, "JPEG")
                found.append((image_id, dx, f"HAM_{len(found):07d}", drawn.read_bytes()))
    return found


def build_release(folder, images, drop=None):
    """The three ISIC files in `folder`; `drop` names an image left out of the image zip (still labelled)."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / f"{ham10000.ISIC_INPUT}.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{ham10000.ISIC_INPUT}/LICENSE.txt", "CC BY-NC 4.0")
        for image_id, _, _, raw in images:
            if image_id != drop:
                archive.writestr(f"{ham10000.ISIC_INPUT}/{image_id}.jpg", raw)
    truth = "image," + ",".join(ham10000.ISIC_COLUMNS) + "\n"
    for image_id, dx, _, _ in images:
        truth += image_id + "," + ",".join("1.0" if c.lower() == dx else "0.0" for c in ham10000.ISIC_COLUMNS) + "\n"
    with zipfile.ZipFile(folder / f"{ham10000.ISIC_TRUTH}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{ham10000.ISIC_TRUTH}/{ham10000.ISIC_TRUTH}.csv", truth)
    groups = "image,lesion_id,diagnosis_confirm_type\n" + "".join(
        f"{i},{lesion},histopathology\n" for i, _, lesion, _ in images
    )
    (folder / ham10000.ISIC_GROUPS).write_text(groups)


@pytest.fixture
def server(isolated, serve, monkeypatch):
    """The local server with good/, truncated/, missing/ and corrupt/ releases, and the count to expect."""
    root = isolated / "served"
    root.mkdir()
    images = source_images(root)
    build_release(root / "good", images)
    build_release(root / "truncated", images)
    zipped = root / "truncated" / f"{ham10000.ISIC_INPUT}.zip"
    zipped.write_bytes(zipped.read_bytes()[: zipped.stat().st_size // 2])
    build_release(root / "missing", images, drop=images[3][0])
    build_release(root / "corrupt", images)
    zipped = root / "corrupt" / f"{ham10000.ISIC_INPUT}.zip"
    raw = bytearray(zipped.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside a stored JPEG: only the CRC can notice
    zipped.write_bytes(bytes(raw))
    monkeypatch.setattr(ham10000, "EXPECTED_IMAGES", len(images))
    return serve(root)[0].rstrip("/"), images


@pytest.fixture
def cache(isolated):
    """The HAM10000 folder of the (empty) Keras cache."""
    return isolated / "home" / ".keras" / "datasets" / ham10000.NAME


def leftovers(cache):
    """Everything under the cache folder: must be empty after a failed download."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def test_good_download_loads_and_is_found_again_without_downloading(server, cache, monkeypatch):
    base, images = server
    monkeypatch.setenv(ham10000.ORIGIN_ENV, f"{base}/good/")
    found = ham10000.load(verbose=False)
    assert found.layout == "ISIC 2018 Task 3" and found.has_lesion_ids and len(found) == len(images)
    assert found.source.startswith(f"download from {base}/good/")
    assert found.counts() == {dx: PER_CLASS for dx in ham10000.CLASSES}
    expected = {image_id: (dx, lesion) for image_id, dx, lesion, _ in images}
    for image_id, label, lesion in zip(found.image_ids, found.labels, found.lesion_ids):
        assert expected[image_id] == (ham10000.CLASSES[label], lesion)
    assert not (cache / "downloads").exists() or not any((cache / "downloads").iterdir())  # zips removed
    monkeypatch.setenv(ham10000.ORIGIN_ENV, f"{base}/nothing-here/")  # a second load must not download
    again = ham10000.load(verbose=False)
    assert again.source.startswith("Keras cache") and again.image_ids == found.image_ids
    assert ham10000.load(plan_only=True).where == f"Keras cache: {cache}"


@pytest.mark.parametrize(
    "release, message",
    [
        ("truncated", f"{ham10000.ISIC_INPUT}.zip is not a complete zip file"),
        ("corrupt", "fails its CRC check"),
        ("missing", f"{ham10000.ISIC_INPUT}.zip.*1 metadata rows whose image file is missing"),
    ],
)
def test_broken_download_names_the_file_and_leaves_nothing(server, cache, release, message, monkeypatch):
    base, images = server
    monkeypatch.setenv(ham10000.ORIGIN_ENV, f"{base}/{release}/")
    with pytest.raises(FileNotFoundError, match=message) as error:
        ham10000.load(verbose=False)
    if release == "missing":
        assert images[3][0] in str(error.value)  # the missing image is named
    assert leftovers(cache) == []  # no extracted folder, no staging folder, no downloaded zip


def test_unreachable_origin_lists_places_and_fixes(cache, monkeypatch):
    monkeypatch.setenv(ham10000.ORIGIN_ENV, "http://127.0.0.1:9/")  # port 9 (discard): connection refused
    with pytest.raises(FileNotFoundError) as error:
        ham10000.load(verbose=False)
    text = str(error.value)
    assert "download from http://127.0.0.1:9/" in text and "1. go online" in text
    assert leftovers(cache) == []
