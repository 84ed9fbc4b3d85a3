"""Image sets from files: one checked-file scan (`readable`), one streaming pipeline (`dataset`: one batch in memory
at a time), and cats vs dogs from wherever it is. Used for cats vs dogs in notebooks 02 and 03, HAM10000 in 05.
"""

import dataclasses
import math
import os
import pathlib

import numpy as np

from tlkeras import cache, config, data, sampling

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_ALIASES = dict(train="train", validation="validation", val="validation", valid="validation", test="test")
DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "BMP")  # the formats tf.io.decode_image reads (MPO: a camera JPEG)
MIN_SIDE = 16  # smaller images carry almost nothing once resized to 160-299 px
NAME = "cats_vs_dogs"  # folder name in the mirror and in ~/.keras/datasets
TFDS_SIZE_MB = 786  # the tensorflow-datasets cats_vs_dogs download, from TFDS_URL (its builder's _URL)
TFDS_URL = (
    "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip"
)
FILTERED_ORIGIN = "https://storage.googleapis.com/mledu-datasets/"  # the TensorFlow transfer-learning tutorial's
FILTERED_ENV = "TLKERAS_CATS_ORIGIN"
FILTERED_ZIP = "cats_and_dogs_filtered.zip"
CLASS_FOLDERS_HELP = (
    "Expected one folder per class (at least two), flat: ROOT/cat/*.jpg, ROOT/dog/*.jpg, or split: ROOT/train/cat/"
    "*.jpg, ROOT/validation/cat/*.jpg, ... (as keras.utils.image_dataset_from_directory reads them)"
)


def check_image(path):
    """Why file `path` cannot be used (empty, not an image, a format or depth TensorFlow cannot decode, truncated,
    smaller than `MIN_SIDE`), or None when it can: grayscale, CMYK and PNG data under a .jpg name are decoded."""
    from PIL import Image

    if pathlib.Path(path).stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        image = Image.open(path)
    except Exception:  # PIL.UnidentifiedImageError, or a header it cannot parse
        return "not an image file"
    with image:
        if image.format not in DECODABLE:
            return f"{image.format} images are not supported by TensorFlow's decoder"
        if image.mode in ("I;16", "I", "F"):
            return f"{image.mode} (16/32-bit) {image.format} is not supported"
        try:
            image.draft("RGB", (4 * MIN_SIDE, 4 * MIN_SIDE))  # JPEG: decode at reduced scale, still reads all data
            image.load()
        except Exception as error:  # PIL raises many types for broken data
            return f"unreadable {image.format} ({error.__class__.__name__}: {error})"
        if min(image.size) < MIN_SIDE:
            return f"too small ({image.width}x{image.height} px, need at least {MIN_SIDE} px per side)"
    return None


def readable(paths):
    """(positions of the usable files, [(path, reason), ...] for the others) after `check_image` and, where a
    ``SHA256SUMS`` lists the file, `tlk.data.verify_file`: the course's one checked-file scan."""
    usable, skipped = [], []
    for position, path in enumerate(map(pathlib.Path, paths)):
        try:
            reason = check_image(path)
            if reason is None:
                data.verify_file(path)  # DataFileError when a listed digest differs
                usable.append(position)
                continue
        except OSError as error:
            reason = f"cannot read ({error.__class__.__name__}: {error})"
        except data.DataFileError:
            reason = "does not match its SHA256SUMS (damaged or replaced)"
        skipped.append((path, reason))
    return usable, skipped


def dataset(paths, labels, image_size, preprocess=None, batch_size=32, shuffle=False, seed=0):
    """A tf.data pipeline of batches of (float32 RGB images in 0..255 resized to `image_size`, labels) read from
    `paths`, then through `preprocess` (e.g. a backbone's ``preprocess_input``). `labels`: one int or array per
    file. With `shuffle` the order changes every epoch, reproducibly for a `seed`. Notebook 02."""
    import tensorflow as tf

    paths, labels = [str(path) for path in paths], np.asarray(labels)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} image files but {len(labels)} labels: give one label per file")
    if not paths:
        raise ValueError("no image files given: check the folder and what was skipped")
    size = (int(image_size), int(image_size)) if np.ndim(image_size) == 0 else tuple(int(s) for s in image_size)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.clip_by_value(tf.image.resize(image, size, antialias=True), 0.0, 255.0), label

    pipeline = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:  # shuffling file names is cheap: the buffer holds every name, never an image
        pipeline = pipeline.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    pipeline = pipeline.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
    if preprocess is not None:
        pipeline = pipeline.map(lambda x, y: (preprocess(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return pipeline.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass
class ImageSplits:
    """Parts of an image set ({"train", "validation", maybe "test": (file paths, integer labels)}), the class
    names, where the files came from, the files skipped as unusable, and the seed of the split and shuffles."""

    class_names: list
    source: str
    parts: dict
    skipped: list = dataclasses.field(default_factory=list)
    seed: int = 0

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

    def dataset(self, name, image_size, preprocess=None, batch_size=32, shuffle=False):
        """Part `name` through the streaming pipeline `dataset` (see there)."""
        return dataset(self.paths(name), self.labels(name), image_size, preprocess, batch_size, shuffle, self.seed)

    def summary(self):
        """Source, classes, the size of each part, and the skipped files (the first five by name)."""
        sizes = ", ".join(f"{name} {self.count(name)}" for name in self.parts)
        skipped = "".join(f"\n  skipped {path.name}: {reason}" for path, reason in self.skipped[:5])
        return f"{self.source}: classes {self.class_names}; {sizes}; skipped {len(self.skipped)} files{skipped}"


def _class_dirs(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_dirs(root):  # {None: root} for the flat layout, {"train": root/train, ...} for the split one
    subdirs = _class_dirs(root)
    split_dirs = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    if "train" in split_dirs:
        if not _class_dirs(split_dirs["train"]):
            raise ValueError(f"{split_dirs['train']} holds no class folders. {CLASS_FOLDERS_HELP}")
        if "validation" not in split_dirs:
            raise ValueError(f"{root} has a train/ folder but no validation/ folder. {CLASS_FOLDERS_HELP}")
        return split_dirs
    if not subdirs:
        found = sorted(p.name for p in root.iterdir())[:5]
        raise ValueError(f"{root} holds no class folders (found {found or 'nothing'}). {CLASS_FOLDERS_HELP}")
    return {None: root}


def _cap(labels, split_of, max_per_class, seed):  # in the split layout each split keeps its share of the cap
    if max_per_class is None:
        return np.arange(len(labels))
    keep, split_of = [], np.array(split_of, dtype=object)
    for split in dict.fromkeys(split_of.tolist()):
        members = np.flatnonzero(split_of == split)
        share = max_per_class if split is None else math.ceil(max_per_class * len(members) / len(labels))
        keep.append(members[sampling.cap_per_class(labels[members], share, seed)])
    return np.sort(np.concatenate(keep))


def _checked_splits(files, labels, class_names, split_of, seed, fractions, source):
    """`ImageSplits` of the `readable` files, split by folder (`split_of`) else by `tlk.sampling.split`."""
    usable, skipped = readable(files)
    files, labels = [files[i] for i in usable], [labels[i] for i in usable]
    present = sorted({class_names[label] for label in labels})
    if len(present) < 2:
        raise ValueError(
            f"{source} has {len(present)} class(es) with usable images ({present}; all classes: {list(class_names)}). "
            + CLASS_FOLDERS_HELP
        )
    if len(present) < len(class_names):
        print(f"  dropped class(es) without usable images: {sorted(set(class_names) - set(present))}")
    labels = np.array([present.index(class_names[label]) for label in labels], dtype="int32")
    if split_of is not None:
        split_of = np.array([split_of[i] for i in usable], dtype=object)
        order = {name: np.flatnonzero(split_of == name) for name in SPLIT_NAMES}
    else:
        order = dict(zip(SPLIT_NAMES, sampling.split(labels, fractions, seed)))
    parts = {name: ([files[i] for i in idx], labels[idx]) for name, idx in order.items() if len(idx)}
    return ImageSplits(present, source, parts, skipped, seed)


def read_folder(root, seed=0, fractions=(0.8, 0.2), max_per_class=None):
    """List, cap (before the checks, so a capped run reads only what it keeps), check and split a class-folder set,
    flat (``root/cat``) or split (``root/train/cat``, ...), into `ImageSplits`; ValueError if it has < 2 classes."""
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist. {CLASS_FOLDERS_HELP}")
    split_dirs = _split_dirs(root)
    names = sorted({d.name for folder in split_dirs.values() for d in _class_dirs(folder)})
    listed = [
        (path, names.index(d.name), split)
        for split, folder in split_dirs.items()
        for d in _class_dirs(folder)
        for path in sorted(p for p in d.rglob("*") if p.is_file())
    ]
    labels = np.array([label for _, label, _ in listed], dtype="int32")
    kept = [listed[i] for i in _cap(labels, [split for *_, split in listed], max_per_class, seed)]
    split_of = None if None in split_dirs else [split for *_, split in kept]
    files, labels = [path for path, *_ in kept], [label for _, label, _ in kept]
    return _checked_splits(files, labels, names, split_of, seed, fractions, f"folder:{root}")


def load_tfds(seed=0, fractions=(0.8, 0.2), max_per_class=None):
    """tensorflow-datasets cats_vs_dogs (786 MB, downloaded once into ``$TFDS_DATA_DIR``), its JPEGs copied byte for
    byte into ``tlk.config.cache_dir("images")`` (only as many as `max_per_class` needs), checked and split."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("cats_vs_dogs", data_dir=os.environ.get("TFDS_DATA_DIR"))  # tfds reads it at import
    print(f"tensorflow-datasets cats_vs_dogs: about {TFDS_SIZE_MB} MB, downloaded once into {builder.data_dir}")
    builder.download_and_prepare()
    names, version = list(builder.info.features["label"].names), builder.info.version
    take = None if max_per_class is None else int(max_per_class) * len(names) * 6 // 5 + 16
    examples = builder.as_dataset(
        split="train" if take is None else f"train[:{take}]", decoders={"image": tfds.decode.SkipDecoding()}
    )
    folder = config.cache_dir("images", f"cats_vs_dogs-tfds-{version}")
    files, labels = [], []
    for index, example in enumerate(examples.as_numpy_iterator()):
        path = folder / names[example["label"]] / f"{index:05d}.jpg"  # the builder re-encodes every image as JPEG
        if not path.is_file():
            cache.atomic_write(path, lambda temporary, raw=example["image"]: pathlib.Path(temporary).write_bytes(raw))
        files.append(path)
        labels.append(int(example["label"]))
    keep = sampling.cap_per_class(np.array(labels), max_per_class, seed)
    files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    return _checked_splits(files, labels, names, None, seed, fractions, f"tfds:cats_vs_dogs:{version}")


def load_cats_vs_dogs(path=None, seed=0, fractions=(0.8, 0.2), max_per_class=None, download=True, plan_only=False):
    """Cats vs dogs as `ImageSplits` from the first place that has it (`path`, the mirror, the Keras cache), else
    tensorflow-datasets, else (with a banner) the TensorFlow tutorial's `FILTERED_ZIP` of 3,000 images.
    ``plan_only=True`` returns the `tlk.data.Plan`. Notebook 02."""

    def check(folder):
        try:
            return read_folder(folder, seed, fractions, max_per_class)
        except ValueError as error:  # a folder we cannot use: noted, and the next place is tried
            raise data.DataFileError(str(error)) from None

    def fetch(url):
        if url == TFDS_URL:
            return load_tfds(seed, fractions, max_per_class)
        print(f"{'=' * 78}\ntensorflow-datasets failed ({plan.problems[-1].splitlines()[0]}).")
        print(f"FALLBACK: {url}: 2,000 training and 1,000 validation images instead of about 23,000.\n{'=' * 78}")

        def extract(folder):  # the archive's cats_and_dogs_filtered/ becomes the Keras cache's cats_vs_dogs/
            return check(data.unzip([folder / FILTERED_ZIP], folder / NAME, _split_dirs, FILTERED_ZIP[:-4]))

        splits = data.fetch({FILTERED_ZIP: url}, "datasets", extract, 66)
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


def augmentation(seed=0):
    """Random horizontal flips, rotations and zooms of up to 10% (active only in training), as a Sequential model."""
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.1, seed=seed),
            keras.layers.RandomZoom(0.1, seed=seed),
        ],
        name="augmentation",
    )
