"""tlkeras.ham10000: every layout (ISIC 2018, official, mirror, class folders) and bad input, on temp folders."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from tlkeras import config, data, ham10000, sampling

pytestmark = pytest.mark.usefixtures("isolated")  # no mirror and an empty Keras cache unless a test sets one
HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization\n"


def jpeg(path, value=(200, 120, 90)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), value).save(path, "JPEG")


def metadata(path, rows, header=HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(f"{lesion},{image},{dx},histo,50.0,male,back\n" for lesion, image, dx in rows))


@pytest.fixture
def official(tmp_path):
    """Official layout with an unknown dx, a row without file, a duplicate id, a truncated JPEG and a stray file."""
    root = tmp_path / "release"
    rows = [
        ("HAM_1", "ISIC_1", "mel"),
        ("HAM_1", "ISIC_2", "mel"),
        ("HAM_2", "ISIC_3", "nv"),
        ("HAM_3", "ISIC_4", "bcc"),
        ("HAM_4", "ISIC_5", "nv"),
        ("HAM_5", "ISIC_6", "vasc"),
        ("HAM_6", "ISIC_9", "nv"),  # no file
        ("HAM_7", "ISIC_10", "tumour"),  # unknown diagnosis
        ("HAM_8", "ISIC_3", "bkl"),
    ]  # duplicate image id
    metadata(root / "HAM10000_metadata.csv", rows)
    for number in (1, 2, 3):
        jpeg(root / "HAM10000_images_part_1" / f"ISIC_{number}.jpg")
    for number in (4, 5, 10, 77):
        jpeg(root / "HAM10000_images_part_2" / f"ISIC_{number}.jpg", (20, 40, 60))
    jpeg(root / "HAM10000_images_part_2" / "ISIC_6.jpg")
    whole = (root / "HAM10000_images_part_2" / "ISIC_6.jpg").read_bytes()
    (root / "HAM10000_images_part_2" / "ISIC_6.jpg").write_bytes(whole[: len(whole) // 2])  # truncated
    return root


def test_official_layout_skips_and_names_bad_input(official):
    found = ham10000.load(official, verbose=False)
    assert found.layout == "official HAM10000" and found.has_lesion_ids
    assert found.image_ids == ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4", "ISIC_5"]
    assert [ham10000.CLASSES[i] for i in found.labels] == ["mel", "mel", "nv", "bcc", "nv"]
    assert found.lesion_ids[:2] == ["HAM_1", "HAM_1"]
    assert found.paths[3].endswith("part_2/ISIC_4.jpg")  # each id keeps its own file
    problems = found.problems
    assert problems["metadata rows whose image file is missing"] == ["ISIC_9"]
    assert problems["rows with an unknown diagnosis or no image_id"] == ["HAM10000_metadata.csv:9 (tumour)"]
    assert problems["duplicate image ids (first row kept)"] == ["ISIC_3 (HAM10000_metadata.csv:10)"]
    assert problems["image files without a metadata row"] == ["ISIC_10.jpg", "ISIC_77.jpg"]
    assert len(problems["unreadable image files"]) == 1 and "ISIC_6.jpg" in problems["unreadable image files"][0]
    report = found.report()
    assert "ISIC_9" in report and "tumour" in report and "ISIC_6.jpg" in report
    # the release is every valid metadata row, with or without a file: 7 rows (the bad dx and the duplicate out)
    assert len(found.release["labels"]) == 7


def test_missing_column_is_an_error_naming_column_and_file(tmp_path):
    root = tmp_path / "release"
    (root / "HAM10000_images_part_1").mkdir(parents=True)
    jpeg(root / "HAM10000_images_part_1" / "ISIC_1.jpg")
    (root / "HAM10000_metadata.csv").write_text("lesion_id,image_id\nHAM_1,ISIC_1\n")
    with pytest.raises(data.DataFileError, match=r"HAM10000_metadata.csv lacks the column\(s\) \['dx'\]"):
        ham10000.load(root, verbose=False)


def test_metadata_without_lesion_column_says_there_are_no_lesion_ids(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "labels.csv").write_text("image_id,dx\nISIC_1,mel\nISIC_2,nv\n")
    jpeg(tmp_path / "set" / "mel" / "ISIC_1.jpg")
    jpeg(tmp_path / "set" / "nv" / "ISIC_2.jpg")
    found = ham10000.load(tmp_path / "set", verbose=False)
    assert not found.has_lesion_ids and found.lesion_ids == ["ISIC_1", "ISIC_2"]
    assert "NO lesion ids" in found.report()


def isic(root, rows, groups=True):
    """An ISIC 2018 Task 3 layout: image folder, one-hot ground truth and (optionally) lesion groupings."""
    truth = "image," + ",".join(ham10000.ISIC_COLUMNS) + "\n"
    for image, dx, _ in rows:
        jpeg(root / ham10000.ISIC_INPUT / f"{image}.jpg")
        truth += image + "," + ",".join("1.0" if c.lower() == dx else "0.0" for c in ham10000.ISIC_COLUMNS) + "\n"
    (root / ham10000.ISIC_TRUTH).mkdir(parents=True)
    (root / ham10000.ISIC_TRUTH / f"{ham10000.ISIC_TRUTH}.csv").write_text(truth)
    if groups:
        text = "image,lesion_id,diagnosis_confirm_type\n" + "".join(
            f"{i},{lesion},histopathology\n" for i, _, lesion in rows
        )
        (root / ham10000.ISIC_GROUPS).write_text(text)
    return root


ROWS = [(f"ISIC_{n:03d}", ham10000.CLASSES[n // 2 % 7], f"HAM_{n // 2:03d}") for n in range(42)]  # lesions of 2


def test_isic_layout_reads_one_hot_labels_and_lesion_groupings(tmp_path):
    found = ham10000.load(isic(tmp_path / "isic", ROWS), verbose=False)
    assert found.layout == "ISIC 2018 Task 3" and found.has_lesion_ids and len(found) == len(ROWS)
    expected = {image: ham10000.CLASSES.index(dx) for image, dx, _ in ROWS}
    assert [expected[i] for i in found.image_ids] == found.labels.tolist()
    assert found.lesion_ids[found.image_ids.index("ISIC_005")] == "HAM_002"
    assert found.labels[found.image_ids.index("ISIC_005")] == ham10000.CLASSES.index("bkl")
    train, test = sampling.split(found.labels, (0.6, 0.4), seed=0, groups=found.lesion_ids)
    shared = {found.lesion_ids[i] for i in train} & {found.lesion_ids[i] for i in test}
    assert len(train) and len(test) and not shared


def test_isic_layout_without_groupings_says_so(tmp_path):
    found = ham10000.load(isic(tmp_path / "isic", ROWS, groups=False), verbose=False)
    assert not found.has_lesion_ids
    assert len(found.problems["images with no lesion id (each counts as its own lesion)"]) == len(ROWS)


def test_class_folders_have_no_lesion_ids_and_say_so(tmp_path):
    for dx in ("mel", "nv"):
        for n in range(2):
            jpeg(tmp_path / "folders" / dx / f"{dx}_{n}.jpg")
    found = ham10000.load(tmp_path / "folders", verbose=False)
    assert found.layout == "class folders" and not found.has_lesion_ids
    assert found.counts()["mel"] == 2 and found.counts()["nv"] == 2
    assert "NO lesion ids" in found.report()


def test_mirror_layout_takes_release_from_full_metadata_and_checks_sha256sums(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    skin = mirror / "skin_lesion"
    rows = [("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "nv"), ("HAM_2", "ISIC_3", "nv"), ("HAM_3", "ISIC_4", "df")]
    metadata(skin / "HAM10000_metadata.csv", rows)
    metadata(skin / "ham10000_224" / "labels.csv", rows[:2])
    jpeg(skin / "ham10000_224" / "mel" / "ISIC_1.jpg")
    jpeg(skin / "ham10000_224" / "nv" / "ISIC_2.jpg")
    digest = hashlib.sha256((skin / "ham10000_224" / "labels.csv").read_bytes()).hexdigest()
    (skin / "SHA256SUMS").write_text(f"{digest}  ./ham10000_224/labels.csv\n")
    monkeypatch.setenv(config.MIRROR_ENV, str(mirror))
    found = ham10000.load(verbose=False)
    assert found.source.startswith(f"${config.MIRROR_ENV}") and len(found) == 2
    assert found.counts(found.release["labels"]) == dict(akiec=0, bcc=0, bkl=0, df=1, mel=1, nv=2, vasc=0)
    assert ham10000.load(plan_only=True).where == f"${config.MIRROR_ENV}: {skin}"
    (skin / "SHA256SUMS").write_text(f"{'0' * 64}  ./ham10000_224/labels.csv\n")  # labels.csv now fails its check
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        ham10000.load(download=False, verbose=False)


def test_cap_keeps_whole_lesions(tmp_path):
    found = ham10000.load(isic(tmp_path / "isic", ROWS), max_per_class=3, verbose=False)
    assert max(found.counts().values()) <= 4  # a lesion of 2 images may cross the cap of 3 by one
    full = ham10000.load(tmp_path / "isic", verbose=False)
    for lesion in set(found.lesion_ids):
        assert found.lesion_ids.count(lesion) == full.lesion_ids.count(lesion)


def test_nothing_found_names_every_place_and_the_fixes(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        ham10000.load(download=False, verbose=False)
    text = str(error.value)
    assert "Keras cache" in text and "download: skipped" in text and "1. go online" in text
    plan = ham10000.load(plan_only=True)
    assert plan.kind == "download" and plan.urls == (ham10000.ISIC_ORIGIN,) and plan.size_mb > 2000
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ham10000.load(tmp_path / "nowhere", verbose=False)


def test_real_mirror(mirror, monkeypatch):
    monkeypatch.setenv(config.MIRROR_ENV, str(mirror))
    found = ham10000.load(verbose=False)
    assert len(found) == 1123 and found.has_lesion_ids
    assert len(found.release["labels"]) == ham10000.EXPECTED_IMAGES
    assert found.counts(found.release["labels"])["nv"] == 6705
    lesions = len(set(found.release["lesion_ids"]))
    assert 7000 < lesions < 8000  # HAM10000: 10,015 images of 7,470 lesions
    assert np.all(np.diff([int(i[5:]) for i in found.image_ids]) > 0)
