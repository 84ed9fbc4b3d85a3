"""HAM10000 skin lesions: the layouts a copy comes in, their metadata, where a copy is, and the ISIC download.

HAM10000 (Tschandl et al. 2018, doi:10.7910/DVN/DBW86T) is 10,015 dermatoscopic images of 7 diagnoses, also
released as the ISIC 2018 Task 3 training set (Codella et al. 2019). Layouts read: see `LAYOUTS_HELP`. Bad rows and
files are skipped and named in ``problems``. Non-commercial use with attribution. Introduced in notebook 05.
"""

import csv
import dataclasses
import pathlib
import shutil

import numpy as np

from tlkeras import data, images, sampling

NAME = "skin_lesion"  # folder name in the mirror and in ~/.keras/datasets
CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
CLASS_NAMES = {
    "akiec": "actinic keratosis / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevus",
    "vasc": "vascular lesion",
}
MALIGNANT = ("akiec", "bcc", "mel")
ISIC_ORIGIN = "https://isic-challenge-data.s3.amazonaws.com/2018/"
ORIGIN_ENV = "TLKERAS_ISIC_ORIGIN"
ISIC_FOLDER = "ISIC2018_Task3_Training"  # a download is extracted into ~/.keras/datasets/skin_lesion/<this>
ISIC_INPUT = "ISIC2018_Task3_Training_Input"
ISIC_TRUTH = "ISIC2018_Task3_Training_GroundTruth"
ISIC_GROUPS = "ISIC2018_Task3_Training_LesionGroupings.csv"
ISIC_COLUMNS = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
DOWNLOAD_MB = {ISIC_INPUT + ".zip": 2772.0, ISIC_TRUTH + ".zip": 0.04, ISIC_GROUPS: 0.5}
EXPECTED_IMAGES = 10015
MIRROR_SUBDIR = "ham10000_224"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUTS_HELP = (
    f"Expected ISIC 2018 ({ISIC_INPUT}/ + {ISIC_TRUTH}.csv + {ISIC_GROUPS}), official HAM10000 (HAM10000_metadata"
    ".csv + HAM10000_images_part_1/ and _part_2/), or one folder per diagnosis (akiec/, bcc/, ...) with or without "
    "labels.csv (the course mirror has it; without it there are no lesion ids)"
)


@dataclasses.dataclass
class Lesions:
    """HAM10000 image files with labels and ids, where they came from, and what was skipped (never pixels)."""

    paths: list
    labels: np.ndarray
    image_ids: list
    lesion_ids: list
    has_lesion_ids: bool  # False: each image stands for its own lesion (a grouped split is then by image)
    layout: str
    source: str
    release: dict  # "labels" and "lesion_ids" of every row of the release's metadata (files or not)
    problems: dict

    def __len__(self):
        return len(self.labels)

    def counts(self, labels=None):
        """Images per class (of `labels`, default this copy's), in CLASSES order."""
        labels = self.labels if labels is None else labels
        return {name: int(np.sum(labels == i)) for i, name in enumerate(CLASSES)}

    def subset(self, index):
        """The same data restricted to the positions in `index`."""
        lists = {key: [getattr(self, key)[i] for i in index] for key in ("paths", "image_ids", "lesion_ids")}
        return dataclasses.replace(self, labels=self.labels[np.asarray(index, dtype=int)], **lists)

    def report(self):
        """A few lines: source, layout, counts, lesion ids, and every kind of skipped input with examples."""
        lesions = "" if self.has_lesion_ids else " (NO lesion ids: each image is its own lesion)"
        text = f"HAM10000 from {self.source} ({self.layout}): {len(self)} images of {len(set(self.lesion_ids))} "
        text += f"lesions{lesions}, {self.counts()}"
        for kind, items in self.problems.items():
            text += f"\n  skipped/noted {len(items)} {kind}: {', '.join(items[:3])}{', ...' * (len(items) > 3)}"
        return text


def _note(problems, kind, item):
    problems.setdefault(kind, []).append(str(item))


def _rows(path, required):
    """The rows of CSV `path` (checked against a ``SHA256SUMS`` that lists it) as stripped dicts."""
    data.verify_file(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in columns]
        if missing:
            raise data.DataFileError(f"{path} lacks the column(s) {missing} (has {columns}): use the release's file")
        return [{k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)} for row in reader]


def read_metadata(path, problems):
    """{image_id: (lesion_id or None, dx)} from a HAM10000 metadata CSV; bad and duplicate rows are named."""
    path, rows = pathlib.Path(path), {}
    for line, row in enumerate(_rows(path, ("image_id", "dx")), start=2):
        image_id, dx = row["image_id"], row["dx"].lower()
        if not image_id or dx not in CLASSES:
            _note(problems, "rows with an unknown diagnosis or no image_id", f"{path.name}:{line} ({dx or '-'})")
        elif image_id in rows:
            _note(problems, "duplicate image ids (first row kept)", f"{image_id} ({path.name}:{line})")
        else:
            rows[image_id] = (row.get("lesion_id") or None, dx)
    return rows


def read_isic(truth_path, groups_path, problems):
    """{image_id: (lesion_id or None, dx)} from the ISIC 2018 ground truth (one-hot) and lesion groupings."""
    rows, truth_path = {}, pathlib.Path(truth_path)
    for line, row in enumerate(_rows(truth_path, ("image",) + ISIC_COLUMNS), start=2):
        hot = [name for name in ISIC_COLUMNS if row[name].removesuffix(".0") == "1"]
        if not row["image"] or len(hot) != 1:
            _note(problems, "rows without exactly one diagnosis", f"{truth_path.name}:{line}")
        elif row["image"] in rows:
            _note(problems, "duplicate image ids (first row kept)", f"{row['image']} ({truth_path.name}:{line})")
        else:
            rows[row["image"]] = (None, hot[0].lower())
    for row in _rows(groups_path, ("image", "lesion_id")) if groups_path.is_file() else ():
        if row["image"] in rows and row["lesion_id"]:
            rows[row["image"]] = (row["lesion_id"], rows[row["image"]][1])
    return rows


def _image_files(*folders):
    return sorted(
        p for folder in folders for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _release(rows):
    ids = sorted(rows)
    return dict(labels=np.array([CLASSES.index(rows[i][1]) for i in ids]), lesion_ids=[rows[i][0] or i for i in ids])


def _assemble(folder, rows, files, layout, problems, release=None):
    """Match metadata rows with image files into a `Lesions`; unmatched rows and files are named."""
    by_id = {}
    for path in files:
        if path.stem in by_id:
            _note(problems, "duplicate image files (first kept)", path)
        elif path.stem not in rows:
            _note(problems, "image files without a metadata row", path.name)
        else:
            by_id[path.stem] = path
    for image_id in sorted(set(rows) - set(by_id)):
        _note(problems, "metadata rows whose image file is missing", image_id)
    image_ids = sorted(set(rows) & set(by_id))
    if not image_ids:
        raise data.DataFileError(f"{folder}: no image file matches a metadata row ({layout}). {LAYOUTS_HELP}")
    for image_id in image_ids:
        if by_id[image_id].parent.name.lower() in set(CLASSES) - {rows[image_id][1]}:
            _note(problems, "class folder disagrees with metadata (metadata used)", by_id[image_id].name)
        if not rows[image_id][0]:
            _note(problems, "images with no lesion id (each counts as its own lesion)", image_id)
    labels = np.array([CLASSES.index(rows[i][1]) for i in image_ids])
    paths, lesion_ids = [str(by_id[i]) for i in image_ids], [rows[i][0] or i for i in image_ids]
    release = release or _release(rows)
    has_lesion_ids = all(rows[i][0] for i in image_ids)
    return Lesions(paths, labels, image_ids, lesion_ids, has_lesion_ids, layout, str(folder), release, problems)


def _read(folder):
    """The HAM10000 copy in `folder` (any layout, or one level down), without reading pixels."""
    folder, problems = pathlib.Path(folder), {}
    truths = [folder / f"{ISIC_TRUTH}.csv", folder / ISIC_TRUTH / f"{ISIC_TRUTH}.csv"]
    if (folder / ISIC_INPUT).is_dir() and any(p.is_file() for p in truths):
        rows = read_isic(next(p for p in truths if p.is_file()), folder / ISIC_GROUPS, problems)
        return _assemble(folder, rows, _image_files(folder / ISIC_INPUT), "ISIC 2018 Task 3", problems)
    parts = [p for p in folder.iterdir() if p.is_dir() and p.name.lower().startswith(("ham10000_images", "images"))]
    if (folder / "HAM10000_metadata.csv").is_file() and parts:
        rows = read_metadata(folder / "HAM10000_metadata.csv", problems)
        return _assemble(folder, rows, _image_files(*parts), "official HAM10000", problems)
    files = _image_files(*(p for p in folder.iterdir() if p.is_dir() and p.name.lower() in CLASSES))
    if files and (folder / "labels.csv").is_file():  # the mirror: the full release's metadata sits one level up
        full = folder.parent / "HAM10000_metadata.csv"
        release = _release(read_metadata(full, {})) if full.is_file() else None
        rows = read_metadata(folder / "labels.csv", problems)
        return _assemble(folder, rows, files, "class folders + labels.csv", problems, release)
    if files:
        rows = {path.stem: (None, path.parent.name.lower()) for path in reversed(files)}  # first file wins
        return _assemble(folder, rows, files, "class folders", problems)
    for sub in (ISIC_FOLDER, MIRROR_SUBDIR):
        if (folder / sub).is_dir():
            return _read(folder / sub)
    raise FileNotFoundError(f"no HAM10000 layout in {folder}. {LAYOUTS_HELP}")


def _extract(downloads):
    """Unzip the ISIC files into a staging folder renamed to ``../ISIC_FOLDER`` only if the release is complete
    (`EXPECTED_IMAGES` labelled images of 7 classes, with lesion ids), else DataFileError; then delete the zips."""

    def complete(staging):
        shutil.copyfile(downloads / ISIC_GROUPS, staging / ISIC_GROUPS)
        found = _read(staging)
        faults = [f"{len(items)} {kind}: {', '.join(items[:5])}" for kind, items in found.problems.items()]
        classes = len(set(found.labels.tolist()))
        if len(found) != EXPECTED_IMAGES or classes != len(CLASSES):
            faults.append(f"{len(found)} labelled images in {classes} classes, expected {EXPECTED_IMAGES} in 7")
        if faults:
            raise data.DataFileError(f"the ISIC download ({', '.join(DOWNLOAD_MB)}) is incomplete: {'; '.join(faults)}")

    zips = [downloads / (ISIC_INPUT + ".zip"), downloads / (ISIC_TRUTH + ".zip")]
    final = data.unzip(zips, downloads.parent / ISIC_FOLDER, complete)
    shutil.rmtree(downloads)
    return _read(final)


def load(path=None, download=True, max_per_class=None, seed=0, verbose=True, plan_only=False):
    """HAM10000 (`Lesions`) from the first of `tlk.data.places` with a copy in any layout of `LAYOUTS_HELP`, else the
    ISIC 2018 release (2.8 GB) from ``$TLKERAS_ISIC_ORIGIN`` or `ISIC_ORIGIN`. `max_per_class` caps whole lesions;
    the kept files are checked (`tlk.images.readable`). ``plan_only=True`` returns the `tlk.data.Plan`. Notebook 05.
    """
    base = data.origin(ORIGIN_ENV, ISIC_ORIGIN)
    fixes = (
        f"go online, so the ISIC 2018 Task 3 training release (about 2.8 GB) can be downloaded from {base}",
        "download HAM10000 (doi:10.7910/DVN/DBW86T: HAM10000_metadata.csv + image folders) and pass path=",
        "export TLKERAS_MIRROR=/path/to/mirror holding skin_lesion/ham10000_224/",
    )
    plan = data.plan("HAM10000", NAME, _read, path, (base,) if download else (), sum(DOWNLOAD_MB.values()), fixes)
    if plan_only:
        return plan

    def fetch(url):
        print(f"HAM10000 is not here: downloading the ISIC 2018 Task 3 release from {url}, once")
        files = {name: url + name for name in DOWNLOAD_MB}
        found = data.fetch(files, f"datasets/{NAME}/downloads", _extract, plan.size_mb)
        found.source = f"download from {url}: {found.source}"
        return found

    found = plan.run(fetch)
    if plan.place is not None:
        found.source = f"{plan.place.label}: {found.source}"
    if max_per_class is not None:
        found = found.subset(sampling.cap_per_class(found.labels, max_per_class, seed, groups=found.lesion_ids))
    usable, skipped = images.readable(found.paths)
    for path, reason in skipped:
        _note(found.problems, "unreadable image files", f"{path.name} ({reason})")
    if not usable:
        raise data.DataFileError(f"{found.source}: no readable image among {len(found)} files")
    found = found.subset(usable)
    if verbose:
        print(found.report())
    return found
