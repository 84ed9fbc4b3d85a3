"""Image sets from files: one checked-file scan, one streaming pipeline, and cats vs dogs from wherever it is.

`check_files` and `dataset` serve every image set (cats vs dogs in notebook 02, HAM10000 in 05): files go through
read, decode, resize, augment and preprocess one batch at a time, never a whole set in memory. A folder is flat
(``root/cat``) or split (``root/train/cat``, ``root/validation/cat``); bad files are skipped and named.
"""

import io
import math
import os
import pathlib
import tempfile

import numpy as np

from tlkeras import cache, config, data, sampling

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_ALIASES = dict(train="train", validation="validation", val="validation", valid="validation", test="test")
MIN_SIDE = 16  # smaller images carry almost nothing once resized to 160-299 px
NAME = "cats_vs_dogs"  # folder name in the mirror and in ~/.keras/datasets
TFDS_SIZE_MB = 786  # the tensorflow-datasets cats_vs_dogs download, from TFDS_URL (its builder's _URL)
TFDS_URL = (
    "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip"
)
FILTERED_ORIGIN = "https://storage.googleapis.com/mledu-datasets/"  # the TensorFlow transfer-learning tutorial's
FILTERED_ENV = "TLKERAS_CATS_ORIGIN"
FILTERED_ZIP = "cats_and_dogs_filtered.zip"
LAYOUT_HELP = (
    "Expected one folder per class (at least two), flat: ROOT/cat/*.jpg, ROOT/dog/*.jpg, or split: ROOT/train/cat/"
    "*.jpg, ROOT/validation/cat/*.jpg, ... (as keras.utils.image_dataset_from_directory reads them)"
)
_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp"}


def sniff_format(head):
    """The image format TensorFlow can decode that these leading bytes announce, or None."""
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def check_image(path):
    """Check one file: returns (usable, message) where message says why it is skipped or what is odd.

    Catches empty files, non-images, formats TensorFlow cannot decode, truncated data and tiny images;
    PNG/GIF bytes under a .jpg name and CMYK or grayscale JPEGs are usable (decoded by content, to RGB).
    """
    from PIL import Image

    path = pathlib.Path(path)
    raw = path.read_bytes()
    if not raw:
        return False, "empty file (0 bytes)"
    kind = sniff_format(raw[:16])
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.draft("RGB", (4 * MIN_SIDE, 4 * MIN_SIDE))  # JPEG: decode at reduced scale, still reads all data
            image.load()
            width, height, mode, pil_format = *image.size, image.mode, image.format
    except Exception as error:  # PIL raises many types for broken files
        if kind is None:
            return False, "not an image file"
        return False, f"unreadable {kind} ({error.__class__.__name__}: {error})"
    if kind is None:
        return False, f"{pil_format} images are not supported by TensorFlow's decoder"
    if mode in ("I;16", "I", "F"):
        return False, f"{mode} (16/32-bit) {kind} is not supported"
    if min(width, height) < MIN_SIDE:
        return False, f"too small ({width}x{height} px, need at least {MIN_SIDE} px per side)"
    notes = [f"{mode} image, converted to RGB"] if mode != "RGB" else []
    if SUFFIX[kind] != path.suffix.lower().replace(".jpeg", ".jpg"):
        notes.insert(0, f"{kind} data named {path.suffix or '(no extension)'}")
    return True, "; ".join(notes)


def check_files(paths, verbose=False):
    """Check every file with `check_image` and, where a ``SHA256SUMS`` lists it, its digest (`tlk.data.verify_file`).

    Returns ``(usable paths, [(path, reason), ...] skipped)``. The one checked-file scan of the course (cats vs
    dogs in notebook 02, HAM10000 in notebook 05).
    """
    usable, skipped, notes = [], [], []
    for path in map(pathlib.Path, paths):
        try:
            ok, message = check_image(path)
            ok = ok and data.verify_file(path) is not None  # raises when a listed digest differs
        except OSError as error:
            ok, message = False, f"cannot read ({error.__class__.__name__}: {error})"
        except data.DataFileError:
            ok, message = False, "does not match its SHA256SUMS (damaged or replaced)"
        if ok:
            usable.append(path)
            if message:
                notes.append((path, message))
        else:
            skipped.append((path, message))
    if verbose:
        print(f"checked {len(usable) + len(skipped)} files: {len(usable)} usable, {len(skipped)} skipped")
        print("".join(f"  skipped {path}: {reason}\n" for path, reason in skipped[:5]), end="")
        if notes:
            print(f"  {len(notes)} usable files needed conversion, e.g. {notes[0][0].name}: {notes[0][1]}")
    return usable, skipped


def dataset(paths, labels, image_size, preprocess=None, batch_size=32, shuffle=False, augment=None, seed=0):
    """Batched, prefetched tf.data pipeline of (float32 images, labels) read from `paths` one batch at a time.

    Each file is read, decoded (JPEG/PNG/GIF/BMP, to RGB) and resized to `image_size` (an int or (height, width))
    with values 0..255; then per batch `augment` (called with training=True) and `preprocess` (the backbone's
    ``preprocess_input``) are applied. `labels` are ints or int arrays (one row per file). With `shuffle` the
    order changes every epoch, reproducibly for a given `seed`. Introduced in notebook 02.
    """
    import tensorflow as tf

    paths = [str(path) for path in paths]
    labels = np.asarray(labels)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} image files but {len(labels)} labels: give one label per file")
    if not paths:
        raise ValueError("no image files given: check the folder and what check_files skipped")
    size = (int(image_size), int(image_size)) if np.ndim(image_size) == 0 else tuple(int(s) for s in image_size)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.clip_by_value(tf.image.resize(image, size, antialias=True), 0.0, 255.0), label

    def finish(images, batch_labels):
        images = images if augment is None else augment(images, training=True)
        return (images if preprocess is None else preprocess(images)), batch_labels

    pipeline = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:  # shuffling file names is cheap: the buffer holds every name, never an image
        pipeline = pipeline.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    pipeline = pipeline.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
    return pipeline.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class ImageSplits:
    """Train/validation(/test) parts of an image set as file paths and integer labels, and where they came from."""

    def __init__(self, class_names, source, parts, skipped=(), seed=0):
        self.class_names, self.source, self.parts, self.skipped, self.seed = class_names, source, parts, skipped, seed

    def paths(self, name):
        """File paths of part `name` (a list of pathlib.Path)."""
        if name not in self.parts:
            raise ValueError(f"no part {name!r}; this set has {list(self.parts)}")
        return self.parts[name][0]

    def labels(self, name):
        """Integer labels of part `name`, in file order."""
        self.paths(name)  # a clear error for an unknown part
        return np.asarray(self.parts[name][1])

    def count(self, name):
        """Number of images in part `name`."""
        return len(self.paths(name))

    def dataset(self, name, image_size, preprocess=None, batch_size=32, shuffle=False, augment=None, seed=None):
        """Part `name` through the streaming pipeline `dataset` (see there)."""
        seed = self.seed if seed is None else seed
        return dataset(self.paths(name), self.labels(name), image_size, preprocess, batch_size, shuffle, augment, seed)

    def summary(self):
        """Source, classes, the size of each part, and the skipped files (the first five by name)."""
        sizes = ", ".join(f"{name} {self.count(name)}" for name in self.parts)
        skipped = "".join(f"\n  skipped {path.name}: {reason}" for path, reason in self.skipped[:5])
        return f"{self.source}: classes {self.class_names}; {sizes}; skipped {len(self.skipped)} files{skipped}"


def _class_dirs(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _detect_layout(root):
    subdirs = _class_dirs(root)
    split_dirs = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    if "train" in split_dirs:
        if not _class_dirs(split_dirs["train"]):
            raise ValueError(f"{split_dirs['train']} holds no class folders. {LAYOUT_HELP}")
        if "validation" not in split_dirs:
            raise ValueError(f"{root} has a train/ folder but no validation/ folder. {LAYOUT_HELP}")
        return "split", split_dirs
    if not subdirs:
        found = sorted(p.name for p in root.iterdir())[:5]
        raise ValueError(f"{root} holds no class folders (found {found or 'nothing'}). {LAYOUT_HELP}")
    return "flat", {None: root}


def _cap(labels, split_of, max_per_class, seed):  # in the split layout each split keeps its share of the cap
    if max_per_class is None:
        return np.arange(len(labels))
    keep, split_of = [], np.array(split_of, dtype=object)
    for split in dict.fromkeys(split_of.tolist()):
        members = np.flatnonzero(split_of == split)
        share = max_per_class if split is None else math.ceil(max_per_class * len(members) / len(labels))
        keep.append(members[sampling.cap_per_class(labels[members], share, seed)])
    return np.sort(np.concatenate(keep))


def split_files(files, labels, class_names, split_of=None, seed=0, fractions=(0.8, 0.2), source="", skipped=()):
    """`ImageSplits` of checked files: by their split folders (`split_of`), else by `tlk.sampling.split` (stratified
    `fractions`, drawn with `seed`). Classes without files are dropped (and said), the rest renumbered."""
    present = sorted({class_names[label] for label in labels})
    if len(present) < 2:
        raise ValueError(
            f"{source or 'the image set'} has {len(present)} class(es) with usable images "
            f"({present}; all classes: {list(class_names)}). {LAYOUT_HELP}"
        )
    if len(present) < len(class_names):
        print(f"  dropped class(es) without usable images: {sorted(set(class_names) - set(present))}")
    labels = np.array([present.index(class_names[label]) for label in labels], dtype="int32")
    if split_of is not None and any(split is not None for split in split_of):
        split_of = np.array(split_of, dtype=object)
        order = {name: np.flatnonzero(split_of == name) for name in SPLIT_NAMES}
    else:
        order = dict(zip(SPLIT_NAMES, sampling.split(labels, fractions, seed)))
    parts = {name: ([files[i] for i in idx], labels[idx]) for name, idx in order.items() if len(idx)}
    return ImageSplits(present, source, parts, list(skipped), seed)


def read_folder(root, seed=0, fractions=(0.8, 0.2), max_per_class=None, verbose=True):
    """List, cap, check and split an image folder (flat or split layout); return `ImageSplits`. Notebook 02.

    The per-class cap (drawn with `seed`) is applied before the files are checked, so a capped run reads only
    the files it keeps. A file a ``SHA256SUMS`` lists (the offline mirror has one) must match it.
    Raises FileNotFoundError if `root` does not exist and ValueError if fewer than two classes have images.
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist. {LAYOUT_HELP}")
    layout, parts = _detect_layout(root)
    names = sorted({d.name for folder in parts.values() for d in _class_dirs(folder)})
    listed = [
        (path, names.index(d.name), split)
        for split, folder in parts.items()
        for d in _class_dirs(folder)
        for path in sorted(p for p in d.rglob("*") if p.is_file())
    ]
    labels = np.array([label for _, label, _ in listed], dtype="int32")
    kept = [listed[i] for i in _cap(labels, [s for _, _, s in listed], max_per_class, seed)]
    usable, skipped = check_files([path for path, _, _ in kept])
    usable = set(usable)
    files, labels, split_of = zip(*[entry for entry in kept if entry[0] in usable]) if usable else ((), (), ())
    splits = split_files(list(files), labels, names, split_of, seed, fractions, f"folder:{root}", skipped)
    if verbose:
        print(f"({layout} layout) {splits.summary()}")
    return splits


def load_tfds(data_dir=None, seed=0, fractions=(0.8, 0.2), max_per_class=None):
    """tensorflow-datasets cats_vs_dogs (about 786 MB, downloaded once), written out as image files and split.

    The encoded images are copied byte for byte into ``tlk.config.cache_dir("images")``, so tfds data go through
    the same checked scan and streaming pipeline as any folder. With `max_per_class` only the examples needed
    are read (split slicing and ``take``), then capped per class with `seed`. Introduced in notebook 02.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder("cats_vs_dogs", data_dir=data_dir)
    print(f"tensorflow-datasets cats_vs_dogs: about {TFDS_SIZE_MB} MB, downloaded once into {builder.data_dir}")
    builder.download_and_prepare()
    names, version = list(builder.info.features["label"].names), builder.info.version
    take = None if max_per_class is None else int(max_per_class) * len(names) * 6 // 5 + 16
    examples = builder.as_dataset(
        split="train" if take is None else f"train[:{take}]",
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    folder = config.cache_dir("images", f"cats_vs_dogs-tfds-{version}")
    files, labels = [], []
    for index, example in enumerate(examples.take(-1 if take is None else take).as_numpy_iterator()):
        raw, label = example["image"], int(example["label"])
        path = folder / names[label] / f"{index:05d}{SUFFIX.get(sniff_format(raw[:16]), '.jpg')}"
        if not path.is_file():
            cache.atomic_write(path, lambda temporary, raw=raw: pathlib.Path(temporary).write_bytes(raw))
        files.append(path)
        labels.append(label)
    keep = sampling.cap_per_class(np.array(labels), max_per_class, seed)
    usable, skipped = check_files([files[i] for i in keep])
    kept = [i for i in keep if files[i] in set(usable)]
    print(f"tfds cats_vs_dogs {version}: {len(files)} read, {len(kept)} kept (cap {max_per_class}), {len(skipped)} bad")
    files, labels, source = [files[i] for i in kept], [labels[i] for i in kept], f"tfds:cats_vs_dogs:{version}"
    return split_files(files, labels, names, None, seed, fractions, source, skipped)


def _extract_filtered(folder):
    """Unzip the tutorial archive into ``folder/cats_vs_dogs`` (train/ and validation/), all or nothing."""
    target = folder / NAME
    with tempfile.TemporaryDirectory(prefix=".cats-", dir=folder) as staging:
        data.unzip(folder / FILTERED_ZIP, staging)
        extracted = pathlib.Path(staging) / FILTERED_ZIP.removesuffix(".zip")
        if not (extracted / "train").is_dir() or not (extracted / "validation").is_dir():
            raise data.DataFileError(f"{FILTERED_ZIP} holds no train/ and validation/ folders")
        os.replace(extracted, target)
    (folder / FILTERED_ZIP).unlink()  # the extracted folder is what the Keras cache place reads from now on
    return target


def load_cats_vs_dogs(
    path=None, seed=0, fractions=(0.8, 0.2), max_per_class=None, data_dir=None, download=True, plan_only=False
):
    """Cats vs dogs (`ImageSplits`: "train", "validation", maybe "test") from the first place that has it: `path`,
    $TLKERAS_MIRROR/cats_vs_dogs, the Keras cache, else tensorflow-datasets; when that download fails, the
    TensorFlow tutorial's `FILTERED_ZIP` (2,000 training and 1,000 validation images) with a banner, and
    ``splits.source`` says so. Files are checked one by one; `max_per_class` caps every source the same way.
    ``plan_only=True`` returns the `tlk.data.Plan`. Introduced in notebook 02."""

    def check(folder):
        try:
            return read_folder(folder, seed, fractions, max_per_class, verbose=False)
        except ValueError as error:  # a folder we cannot use: noted, and the next place is tried
            raise data.DataFileError(str(error)) from None

    def fetch(url):
        if url == TFDS_URL:
            return load_tfds(data_dir, seed, fractions, max_per_class)
        print(
            f"{'=' * 78}\ntensorflow-datasets failed ({plan.problems[-1].splitlines()[0]}).\nFALLBACK: the TensorFlow tutorial archive"
        )
        print(f"{url}: 2,000 training and 1,000 validation images instead of about 23,000.\n{'=' * 78}")
        splits = data.fetch({FILTERED_ZIP: url}, "datasets", lambda folder: check(_extract_filtered(folder)), 66)
        splits.source = f"fallback:{FILTERED_ZIP} from {url} (tensorflow-datasets failed)"
        return splits

    fixes = (
        f"go online: tensorflow-datasets downloads cats_vs_dogs (about {TFDS_SIZE_MB} MB) once",
        f"put the images in {data.keras_home() / 'datasets' / NAME} as cat/*.jpg and dog/*.jpg "
        "(or train/ and validation/ folders of those), or pass path=",
        f"export {config.MIRROR_ENV}=/path/to/mirror holding cats_vs_dogs/cat and cats_vs_dogs/dog",
    )
    urls = (TFDS_URL, data.origin(FILTERED_ENV, FILTERED_ORIGIN) + FILTERED_ZIP) if download else ()
    plan = data.plan("cats_vs_dogs", NAME, check, path, urls, TFDS_SIZE_MB, fixes)
    if plan_only:
        return plan
    splits = plan.run(fetch)
    print(splits.summary())
    return splits


def augmentation(flip=True, rotation=0.1, zoom=0.1, seed=0):
    """Random flip / rotation / zoom layers (active only in training) as a small Sequential model. Notebook 02."""
    import keras

    layers = [keras.layers.RandomFlip("horizontal", seed=seed)] if flip else []
    layers += [keras.layers.RandomRotation(rotation, seed=seed)] if rotation else []
    layers += [keras.layers.RandomZoom(zoom, seed=seed)] if zoom else []
    return keras.Sequential(layers, name="augmentation")
