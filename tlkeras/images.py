"""Image classification data: find cats vs dogs, check every file, split by seed, and build tf.data pipelines.

Three ways in: a folder with one subfolder per class (``root/cat``, ``root/dog``), the same split into
``root/train`` + ``root/validation`` (+ ``root/test``), or tensorflow-datasets ``cats_vs_dogs``.
Files that cannot be decoded are skipped and reported, never a crash in the middle of training.
"""
import dataclasses
import hashlib
import io
import pathlib

import numpy as np

from tlkeras import data

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "valid": "validation",
                 "test": "test"}
MIN_SIDE = 16  # smaller images carry almost nothing once resized to 160-299 px
LAYOUT_HELP = (
    "Expected one folder per class, either flat: ROOT/cat/*.jpg, ROOT/dog/*.jpg, or split: "
    "ROOT/train/cat/*.jpg, ROOT/train/dog/*.jpg, ROOT/validation/cat/*.jpg, ... (at least two classes, "
    "as keras.utils.image_dataset_from_directory reads them)"
)
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
          (b"BM", "BMP"))
_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}


def sniff_format(head):
    """The image format TensorFlow can decode that these leading bytes announce, or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


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
    notes = []
    if _EXTENSIONS.get(path.suffix.lower()) != kind:
        notes.append(f"{kind} data named {path.suffix or '(no extension)'}")
    if mode not in ("RGB",):
        notes.append(f"{mode} image, converted to RGB")
    return True, "; ".join(notes)


@dataclasses.dataclass
class ImageFolder:
    """A checked image folder: usable files with labels (and their split, for the split layout)."""

    root: pathlib.Path
    layout: str  # "flat" or "split"
    class_names: list
    files: list
    labels: np.ndarray
    split_of: list  # per file: "train"/"validation"/"test" for the split layout, None for flat
    skipped: list  # (path, reason)
    notes: list  # (path, note) for usable files that needed care

    def report(self, limit=5):
        """A short text report: counts per class and what was skipped, naming the files."""
        counts = ", ".join(f"{name}: {int(np.sum(self.labels == i))}" for i, name in enumerate(self.class_names))
        lines = [f"{self.root} ({self.layout} layout): {len(self.files)} usable images ({counts}); "
                 f"skipped {len(self.skipped)}"]
        for path, reason in self.skipped[:limit]:
            lines.append(f"  skipped {pathlib.Path(path).relative_to(self.root)}: {reason}")
        if len(self.skipped) > limit:
            lines.append(f"  ... and {len(self.skipped) - limit} more")
        if self.notes:
            lines.append(f"  {len(self.notes)} usable files needed conversion, e.g. "
                         f"{pathlib.Path(self.notes[0][0]).name}: {self.notes[0][1]}")
        return "\n".join(lines)


def _class_dirs(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _detect_layout(root):
    subdirs = _class_dirs(root)
    split_dirs = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    if "train" in split_dirs:
        if not _class_dirs(split_dirs["train"]):
            raise ValueError(f"{split_dirs['train']} holds no class folders. {LAYOUT_HELP}")
        return "split", split_dirs
    if not subdirs:
        found = sorted(p.name for p in root.iterdir())[:5]
        raise ValueError(f"{root} holds no class folders (found {found or 'nothing'}). {LAYOUT_HELP}")
    return "flat", {None: root}


def scan_folder(root, min_side=MIN_SIDE, verbose=True):
    """Find and check every file under an image folder (flat or split layout); return an `ImageFolder`.

    Unusable files are skipped and listed; a class folder left without images is dropped and reported.
    Raises FileNotFoundError if `root` does not exist and ValueError if fewer than two classes remain.
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist. {LAYOUT_HELP}")
    layout, parts = _detect_layout(root)
    class_names = sorted({d.name for folder in parts.values() for d in _class_dirs(folder)})
    found, skipped, notes = [], [], []
    for split, folder in parts.items():
        for class_dir in _class_dirs(folder):
            for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
                usable, message = check_image(path, min_side)
                if usable:
                    found.append((str(path), class_dir.name, split))
                    if message:
                        notes.append((str(path), message))
                else:
                    skipped.append((str(path), message))
    present = sorted({name for _, name, _ in found})
    empty = [name for name in class_names if name not in present]
    if len(present) < 2:
        raise ValueError(f"{root} has {len(present)} class(es) with usable images ({present}); "
                         f"empty class folders: {empty}. {LAYOUT_HELP}")
    index = {name: i for i, name in enumerate(present)}
    folder = ImageFolder(root, layout, present, [f for f, _, _ in found],
                         np.array([index[c] for _, c, _ in found], dtype="int32"),
                         [s for _, _, s in found], skipped, notes)
    if verbose:
        print(folder.report())
        if empty:
            print(f"  dropped empty class folder(s): {empty}")
    return folder


def split_indices(labels, seed=0, validation_fraction=0.2, test_fraction=0.0):
    """Stratified, seeded split of positions 0..n-1 into train/validation/test index arrays (each shuffled)."""
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError("validation_fraction and test_fraction must be in [0, 1) with a sum below 1")
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in SPLIT_NAMES}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(validation_fraction * len(members)))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test:n_test + n_val])
        parts["train"].append(members[n_test + n_val:])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


@dataclasses.dataclass
class ImageSplits:
    """Train/validation/test parts of an image set, where they came from, and what was skipped."""

    class_names: list
    source: str
    parts: dict  # name -> (files, labels) for folders, or name -> (tf.data of (image, label), count)
    skipped: list = dataclasses.field(default_factory=list)
    seed: int = 0

    def count(self, name):
        """Number of images in part `name`."""
        return len(self.parts[name][1]) if self._is_files else self.parts[name][1]

    @property
    def _is_files(self):
        return not self.source.startswith("tfds")

    def labels(self, name):
        """Integer labels of part `name`, in dataset order."""
        if self._is_files:
            return np.asarray(self.parts[name][1])
        labels = self.parts[name][0].map(lambda image, label: label).batch(4096)
        return np.concatenate(list(labels.as_numpy_iterator()))

    def fingerprint(self, name):
        """A hash of part `name`'s files (content), labels and order: changes whenever the data change."""
        digest = hashlib.sha256(f"{self.source}|{name}|{self.class_names}".encode())
        if self._is_files:
            files, labels = self.parts[name]
            for path, label in zip(files, labels):
                digest.update(f"{pathlib.Path(path).name}|{data.file_digest(path)}|{label};".encode())
        else:
            digest.update(str(self.count(name)).encode())
        return digest.hexdigest()[:16]

    def images(self, name, image_size):
        """Part `name` as an unbatched tf.data.Dataset of (uint8 image resized to image_size², label)."""
        import tensorflow as tf

        if name not in self.parts:
            raise ValueError(f"no part {name!r}; this set has {list(self.parts)}")
        size = (int(image_size), int(image_size))

        def resize(image, label):
            image = tf.image.resize(image, size, antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

        if self._is_files:
            files, labels = self.parts[name]

            def decode(path, label):
                image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
                image.set_shape([None, None, 3])
                return resize(image, label)

            dataset = tf.data.Dataset.from_tensor_slices((list(files), np.asarray(labels, "int32")))
            return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return self.parts[name][0].map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def dataset(self, name, image_size, preprocess=None, batch_size=32, shuffle=False, augment=None,
                cache=True, seed=None):
        """Batched, prefetched tf.data pipeline for part `name`: decode, resize, cache, shuffle, augment, preprocess.

        The cache holds resized uint8 images, so random augmentation (applied after it) differs every epoch.
        `preprocess` is the backbone's own preprocess_input (float images 0..255 in); None keeps 0..255.
        """
        import tensorflow as tf

        dataset = self.images(name, image_size)
        if cache:
            dataset = dataset.cache()
        if shuffle:
            dataset = dataset.shuffle(self.count(name), seed=self.seed if seed is None else seed,
                                      reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)

        def finish(images, labels):
            images = tf.cast(images, tf.float32)
            if augment is not None:
                images = augment(images, training=True)
            if preprocess is not None:
                images = preprocess(images)
            return images, labels

        return dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def summary(self):
        """One line: source, classes and the size of each part."""
        sizes = ", ".join(f"{name} {self.count(name)}" for name in self.parts)
        return f"{self.source}: classes {self.class_names}; {sizes}; skipped {len(self.skipped)} files"


def split_folder(root, seed=0, validation_fraction=0.2, test_fraction=0.0, min_side=MIN_SIDE, verbose=True):
    """Scan `root` and split it: the split layout keeps its folders, a flat one is split by `seed` (stratified)."""
    folder = scan_folder(root, min_side=min_side, verbose=verbose)
    files, labels = np.array(folder.files), folder.labels
    if folder.layout == "split":
        split_of = np.array(folder.split_of)
        if not np.any(split_of == "validation"):
            raise ValueError(f"{root} has a train/ folder but no validation/ folder. {LAYOUT_HELP}")
        order = {name: np.flatnonzero(split_of == name) for name in SPLIT_NAMES}
        order = {name: np.random.default_rng(seed).permutation(idx) for name, idx in order.items() if len(idx)}
    else:
        order = split_indices(labels, seed, validation_fraction, test_fraction)
        order = {name: idx for name, idx in order.items() if len(idx) or name != "test"}
    parts = {name: (files[idx].tolist(), labels[idx]) for name, idx in order.items()}
    return ImageSplits(folder.class_names, f"folder:{folder.root}", parts, folder.skipped, seed)


def load_tfds(data_dir=None, seed=0, validation_fraction=0.2, test_fraction=0.0, download=True):
    """tensorflow-datasets cats_vs_dogs (downloads ~800 MB into `data_dir` once), split by percentage."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("cats_vs_dogs", data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    n_test, n_val = round(test_fraction * 100), round(validation_fraction * 100)
    specs = {"train": f"train[{n_test + n_val}%:]", "validation": f"train[{n_test}%:{n_test + n_val}%]",
             "test": f"train[:{n_test}%]"}
    parts = {}
    for name, spec in specs.items():
        if name == "test" and not n_test:
            continue
        dataset = builder.as_dataset(split=spec, as_supervised=True, shuffle_files=False)
        count = int(dataset.cardinality())
        if count < 0:  # unknown: count once
            count = int(dataset.reduce(0, lambda total, _: total + 1))
        parts[name] = (dataset, count)
    names = builder.info.features["label"].names
    print(f"tfds cats_vs_dogs {builder.info.version} from {builder.data_dir}: "
          f"{sum(count for _, count in parts.values())} images "
          "(tfds itself skips the 1,738 corrupt files of Microsoft's original zip)")
    return ImageSplits(list(names), f"tfds:cats_vs_dogs:{builder.info.version}", parts, [], seed)


def load_cats_vs_dogs(path=None, seed=0, validation_fraction=0.2, test_fraction=0.0, data_dir=None,
                      download=True, verbose=True):
    """Cats vs dogs from the first place that has it: `path`, $TLKERAS_MIRROR/cats_vs_dogs, ~/.keras/datasets, tfds.

    Folders are checked file by file (see `scan_folder`); the tfds path downloads into `data_dir`.
    Returns an `ImageSplits` with parts "train", "validation" (and "test" when test_fraction > 0).
    """
    tried = []
    for label, folder in data.search_dirs("cats_vs_dogs", path):
        if folder.is_dir():
            if verbose:
                print(f"cats_vs_dogs: using {folder} ({label})")
            return split_folder(folder, seed, validation_fraction, test_fraction, verbose=verbose)
        if label == "path argument":
            raise FileNotFoundError(f"{folder} does not exist. {LAYOUT_HELP}")
        tried.append(f"{label}: {folder}")
    if download:
        return load_tfds(data_dir, seed, validation_fraction, test_fraction)
    raise FileNotFoundError("cats_vs_dogs not found in:\n  - " + "\n  - ".join(tried) +
                            "\nSet $TLKERAS_MIRROR, pass path=, or allow download=True (tensorflow-datasets).")


def augmentation(flip=True, rotation=0.1, zoom=0.1, seed=0):
    """Random flip / rotation / zoom layers (active only in training) as a small Sequential model."""
    import keras

    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=seed))
    return keras.Sequential(layers, name="augmentation")
