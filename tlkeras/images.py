"""Image sets from files: one checked-file scan, one streaming pipeline, and cats vs dogs from wherever it is.

`check_files` and `dataset` serve every image set (cats vs dogs in notebook 02, HAM10000 in 05): files go through
read, decode, resize, augment and preprocess one batch at a time, never a whole set in memory. A folder is flat
(``root/cat``) or split (``root/train/cat``, ``root/validation/cat``); bad files are skipped and named.
"""

import io
import math
import os
import pathlib

import numpy as np

from tlkeras import config, data, sampling

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_ALIASES = dict(train="train", validation="validation", val="validation", valid="validation", test="test")
MIN_SIDE = 16  # smaller images carry almost nothing once resized to 160-299 px
TFDS_SIZE_MB = 786  # the tensorflow-datasets cats_vs_dogs download
LAYOUT_HELP = (
    "Expected one folder per class, either flat: ROOT/cat/*.jpg, ROOT/dog/*.jpg, or split: "
    "ROOT/train/cat/*.jpg, ROOT/train/dog/*.jpg, ROOT/validation/cat/*.jpg, ... (at least two classes, "
    "as keras.utils.image_dataset_from_directory reads them)"
)
_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}
_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp"}


def sniff_format(head):
    """The image format TensorFlow can decode that these leading bytes announce, or None."""
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def check_image(path, min_side=MIN_SIDE):
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
            image.draft("RGB", (4 * min_side, 4 * min_side))  # JPEG: decode at reduced scale, still reads all data
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
    if min(width, height) < min_side:
        return False, f"too small ({width}x{height} px, need at least {min_side} px per side)"
    notes = [f"{kind} data named {path.suffix or '(no extension)'}"] * (_EXTENSIONS.get(path.suffix.lower()) != kind)
    notes += [f"{mode} image, converted to RGB"] * (mode != "RGB")
    return True, "; ".join(notes)


def check_files(paths, min_side=MIN_SIDE, verbose=False):
    """Check every file with `check_image`; return ``(usable paths, [(path, reason), ...] skipped)``.

    The one checked-file scan of the course (cats vs dogs in notebook 02, HAM10000 in notebook 05).
    """
    usable, skipped, notes = [], [], []
    for path in map(pathlib.Path, paths):
        try:
            ok, message = check_image(path, min_side)
        except OSError as error:
            ok, message = False, f"cannot read ({error.__class__.__name__}: {error})"
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
        return np.asarray(self.parts[name][1] if self.paths(name) is not None else [])

    def count(self, name):
        """Number of images in part `name`."""
        return len(self.paths(name))

    def dataset(self, name, image_size, preprocess=None, batch_size=32, shuffle=False, augment=None, seed=None):
        """Part `name` through the streaming pipeline `dataset` (see there)."""
        seed = self.seed if seed is None else seed
        return dataset(self.paths(name), self.labels(name), image_size, preprocess, batch_size, shuffle, augment, seed)

    def summary(self):
        """One line: source, classes, the size of each part and how many files were skipped."""
        sizes = ", ".join(f"{name} {self.count(name)}" for name in self.parts)
        return f"{self.source}: classes {self.class_names}; {sizes}; skipped {len(self.skipped)} files"


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


def _cap(labels, split_of, max_per_class, seed):
    """Positions kept by a per-class cap; in the split layout each split keeps its share of the cap."""
    if max_per_class is None:
        return np.arange(len(labels))
    keep, split_of = [], np.array(split_of, dtype=object)
    for split in dict.fromkeys(split_of.tolist()):
        members = np.flatnonzero(split_of == split)
        share = max_per_class if split is None else math.ceil(max_per_class * len(members) / len(labels))
        keep.append(members[sampling.cap_per_class(labels[members], share, seed)])
    return np.sort(np.concatenate(keep))


def split_files(files, labels, class_names, split_of=None, seed=0, fractions=(0.8, 0.2), source="", skipped=()):
    """`ImageSplits` of checked files: by their split folders (`split_of`), else by `tlk.sampling.split`.

    `fractions` are (train, validation) or (train, validation, test), stratified and drawn with `seed`.

    Classes are renumbered over the classes that still have files (an empty class is dropped and reported).
    """
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


def read_folder(root, seed=0, fractions=(0.8, 0.2), max_per_class=None, min_side=MIN_SIDE, verbose=True):
    """List, cap, check and split an image folder (flat or split layout); return `ImageSplits`. Notebook 02.

    The per-class cap (drawn with `seed`) is applied before the files are checked, so a capped run reads only
    the files it keeps. Files listed in the folder's ``SHA256SUMS`` (the offline mirror has one) must match it.
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
    usable, skipped = check_files([path for path, _, _ in kept], min_side)
    sums = data.read_sha256sums(root)
    damaged = {p for p in usable if sums.get(p.relative_to(root).as_posix(), "") not in ("", data.file_digest(p))}
    skipped += [(p, "does not match the folder's SHA256SUMS (damaged or replaced)") for p in sorted(damaged)]
    usable = set(usable) - damaged
    files, labels, split_of = zip(*[entry for entry in kept if entry[0] in usable]) if usable else ((), (), ())
    splits = split_files(list(files), labels, names, split_of, seed, fractions, f"folder:{root}", skipped)
    if verbose:
        print(f"{splits.summary()} ({layout} layout)")
        print("".join(f"  skipped {path.name}: {reason}\n" for path, reason in skipped[:5]), end="")
    return splits


def load_tfds(data_dir=None, seed=0, fractions=(0.8, 0.2), max_per_class=None, download=True):
    """tensorflow-datasets cats_vs_dogs (about 786 MB, downloaded once), written out as image files and split.

    The encoded images are copied byte for byte into ``tlk.config.cache_dir("images")``, so tfds data go through
    the same checked scan and streaming pipeline as any folder. With `max_per_class` only the examples needed
    are read (split slicing and ``take``), then capped per class with `seed`. Introduced in notebook 02.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(f"{error}; fix: pip install tensorflow-datasets importlib_resources") from None
    builder = tfds.builder("cats_vs_dogs", data_dir=data_dir)
    if download:
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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(f".{path.name}.tmp").write_bytes(raw)
            os.replace(path.with_name(f".{path.name}.tmp"), path)  # a file is either complete or absent
        files.append(path)
        labels.append(label)
    keep = sampling.cap_per_class(np.array(labels), max_per_class, seed)
    usable, skipped = check_files([files[i] for i in keep])
    kept = [i for i in keep if files[i] in set(usable)]
    print(f"tfds cats_vs_dogs {version}: {len(files)} read, {len(kept)} kept (cap {max_per_class}), {len(skipped)} bad")
    files, labels, source = [files[i] for i in kept], [labels[i] for i in kept], f"tfds:cats_vs_dogs:{version}"
    return split_files(files, labels, names, None, seed, fractions, source, skipped)


def load_cats_vs_dogs(path=None, seed=0, fractions=(0.8, 0.2), max_per_class=None, data_dir=None, download=True):
    """Cats vs dogs from the first place that has it: `path`, $TLKERAS_MIRROR/cats_vs_dogs, the Keras cache, tfds.

    Folders (flat or split layout) are checked file by file; `max_per_class` caps every source the same way.
    Returns `ImageSplits` with parts "train", "validation" (and "test"). Introduced in notebook 02.
    """

    def read(folder):
        try:
            return read_folder(folder, seed, fractions, max_per_class)
        except ValueError as error:  # a folder we cannot use: noted, and the next place is tried
            raise data.DataFileError(str(error)) from None

    found, place, problems = data.find("cats_vs_dogs", read, path)
    if found is not None:
        return found
    if download:
        try:
            return load_tfds(data_dir, seed, fractions, max_per_class)
        except Exception as error:  # network, import or tfds failure: reported below with the fixes
            problems.append(f"tensorflow-datasets download: {error.__class__.__name__}: {error}")
    else:
        problems.append("tensorflow-datasets download: skipped (download=False)")
    fixes = [
        f"go online: tensorflow-datasets downloads cats_vs_dogs (about {TFDS_SIZE_MB} MB) once",
        f"put the images in {data.keras_home() / 'datasets' / 'cats_vs_dogs'} as cat/*.jpg and dog/*.jpg "
        "(or train/ and validation/ folders of those), or pass path=",
        f"export {config.MIRROR_ENV}=/path/to/mirror holding cats_vs_dogs/cat and cats_vs_dogs/dog",
    ]
    raise data.not_found("cats_vs_dogs", problems, fixes)


def locate_cats_vs_dogs(path=None, data_dir=None):
    """Where `load_cats_vs_dogs` would read from, as a `tlk.data.Source` (nothing is read or downloaded).

    For ``python -m tlkeras doctor``: the first place with class folders, else tensorflow-datasets.
    """

    def probe(folder):
        try:
            return _detect_layout(folder)
        except ValueError as error:
            raise data.DataFileError(str(error)) from None

    _, place, _ = data.find("cats_vs_dogs", probe, path)
    if place is not None:
        return data.Source("cats vs dogs", "local", f"{place.label}: {place.path}")
    root = pathlib.Path(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()
    if any((root / "cats_vs_dogs").glob("*/dataset_info.json")):
        return data.Source("cats vs dogs", "local", f"tensorflow-datasets: {root / 'cats_vs_dogs'}")
    fix = "go online once, or put cat/ and dog/ folders in ~/.keras/datasets/cats_vs_dogs, or set $TLKERAS_MIRROR"
    return data.Source("cats vs dogs", "download", "tensorflow-datasets cats_vs_dogs", TFDS_SIZE_MB, fix)


def augmentation(flip=True, rotation=0.1, zoom=0.1, seed=0):
    """Random flip / rotation / zoom layers (active only in training) as a small Sequential model. Notebook 02."""
    import keras

    layers = [keras.layers.RandomFlip("horizontal", seed=seed)] if flip else []
    layers += [keras.layers.RandomRotation(rotation, seed=seed)] if rotation else []
    layers += [keras.layers.RandomZoom(zoom, seed=seed)] if zoom else []
    return keras.Sequential(layers, name="augmentation")
