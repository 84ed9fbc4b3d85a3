"""Find data sets (explicit path, offline mirror, Keras cache, Debian package, download) and load Fashion-MNIST."""
import gzip
import hashlib
import pathlib
import zlib

import numpy as np

from tlkeras import config

FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEBIAN_ROOT = pathlib.Path("/usr/share/datasets")


def file_digest(path, algorithm="md5"):
    """Hex digest of a file's bytes, read in chunks (for fingerprints and pinned hashes, not security)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DataFileError(ValueError):
    """A data file exists but is truncated, corrupt or of the wrong format."""


def search_dirs(name, path=None, debian=True):
    """The places searched for data set `name`, in order, as (label, Path) pairs.

    Order: the explicit `path`; ``$TLKERAS_MIRROR/<name>``; the Keras cache ``~/.keras/datasets/<name>``;
    the Debian package folder ``/usr/share/datasets/<name>`` (when `debian`).
    """
    places = []
    if path is not None:
        places.append(("path argument", pathlib.Path(path).expanduser()))
    mirror = config.mirror_dir()
    if mirror is not None:
        places.append((f"${config.MIRROR_ENV}", mirror / name))
    places.append(("Keras cache", pathlib.Path.home() / ".keras" / "datasets" / name))
    if debian:
        places.append(("Debian package", DEBIAN_ROOT / name))
    return places


def read_idx(path):
    """Read one (optionally gzipped) IDX file into a NumPy array, with a clear error if it is damaged."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(
            f"{path} is damaged ({error.__class__.__name__}: {error}); delete it and download it again"
        ) from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes (bad header)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataFileError(f"{path} holds {len(raw)} bytes but its header promises {expected}; it is truncated")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_fashion(folder):
    arrays = [read_idx(folder / name) for name in FASHION_FILES]
    x_train, y_train, x_test, y_test = arrays
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataFileError(f"{folder}: image and label counts differ")
    return (x_train, y_train), (x_test, y_test)


def _download_fashion():
    import keras

    return keras.datasets.fashion_mnist.load_data()


def load_fashion_mnist(path=None, download=True):
    """Load Fashion-MNIST as uint8 arrays: ``(x_train, y_train), (x_test, y_test)``.

    Looks in `search_dirs("fashion-mnist", path)` for the four original ``.gz`` files, then
    downloads with ``keras.datasets.fashion_mnist`` (when `download`). A damaged file in an explicit
    `path` raises at once; elsewhere it is reported and the next place is tried.
    """
    problems = []
    for label, folder in search_dirs("fashion-mnist", path):
        missing = [name for name in FASHION_FILES if not (folder / name).is_file()]
        if missing:
            problems.append(f"{label}: {folder} (missing {', '.join(missing)})")
            if label == "path argument":
                raise FileNotFoundError(f"{folder} does not hold the Fashion-MNIST files: missing {missing}")
            continue
        try:
            return _read_fashion(folder)
        except DataFileError as error:
            if label == "path argument":
                raise
            problems.append(f"{label}: {error}")
    if download:
        try:
            return _download_fashion()
        except Exception as error:  # any network/SSL/HTTP failure lands here
            problems.append(f"download via keras.datasets.fashion_mnist: {error.__class__.__name__}: {error}")
    else:
        problems.append("download: skipped (download=False)")
    searched = "\n  - ".join(problems)
    raise FileNotFoundError(
        "Fashion-MNIST not found. Searched:\n  - " + searched + "\nFix it in one of three ways:\n"
        "  1. go online, so keras.datasets.fashion_mnist can download it;\n"
        "  2. sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu; files land in /usr/share/datasets);\n"
        f"  3. export {config.MIRROR_ENV}=/path/to/mirror holding fashion-mnist/{FASHION_FILES[0]} etc."
    )
