"""Where data come from: one search order for every data set, verified files, downloads, Fashion-MNIST.

Every loader in the course (Fashion-MNIST here, cats vs dogs in `tlk.images`, HAM10000 in `tlk.ham10000`,
ImageNet weights in `tlk.backbones`) walks the same places in the same order with `find`:

1. an explicit ``path`` argument: a problem there is an error at once (you asked for that folder);
2. the offline mirror ``$TLKERAS_MIRROR/<name>``;
3. the Keras cache ``~/.keras/<datasets|models>/<name>`` (where downloads land);
4. the Debian package folder ``/usr/share/datasets/<name>`` (Fashion-MNIST only);

A place that is missing or broken is noted and the next one tried; when none works, the loader downloads
(if allowed) or raises one `FileNotFoundError` naming every place searched and the fixes. Introduced in
notebook 01.
"""

import dataclasses
import functools
import gzip
import hashlib
import os
import pathlib
import socket
import threading
import urllib.parse
import zlib

import numpy as np

from tlkeras import config

DEBIAN_ROOT = pathlib.Path("/usr/share/datasets")
FASHION_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class DataFileError(ValueError):
    """A data file exists but is truncated, corrupt or of the wrong format."""


@dataclasses.dataclass(frozen=True)
class Place:
    """One place a data set may be: a label for messages, the folder, and whether the user named it."""

    label: str
    path: pathlib.Path
    explicit: bool = False


@dataclasses.dataclass
class Source:
    """Where a data set or weight file will come from, for ``python -m tlkeras doctor``.

    `kind` is "local" (found at `where`), "download" (fetched from `where`, `size_mb` large) or "missing".
    """

    what: str
    kind: str
    where: str
    size_mb: float = None
    fix: str = None


def keras_home():
    """The Keras cache root (``$KERAS_HOME`` or ``~/.keras``)."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")).expanduser()


def places(name, path=None, kind="datasets", debian=False):
    """The places searched for data set (or weights folder) `name`, in the course's one order.

    `kind` is the Keras cache subfolder: "datasets" for data, "models" for weights (the mirror holds
    weights under ``keras/models``).
    """
    found = []
    if path is not None:
        found.append(Place("path argument", pathlib.Path(path).expanduser(), explicit=True))
    mirror = config.mirror_dir()
    if mirror is not None:
        found.append(Place(f"${config.MIRROR_ENV}", mirror / ("keras/models" if kind == "models" else name)))
    found.append(Place("Keras cache", keras_home() / kind / ("" if kind == "models" else name)))
    if debian:
        found.append(Place("Debian package", DEBIAN_ROOT / name))
    return found


def find(name, read, path=None, kind="datasets", debian=False):
    """Return ``(result, place, problems)`` from the first place where ``read(folder)`` succeeds.

    `read` raises `FileNotFoundError` (nothing usable there) or `DataFileError` (something broken).
    In an explicit `path` either error propagates; elsewhere it is noted in `problems` and the next
    place is tried. Returns ``(None, None, problems)`` when no place works.
    """
    problems = []
    for place in places(name, path, kind=kind, debian=debian):
        if not place.path.exists():
            if place.explicit:
                raise FileNotFoundError(f"{place.path} does not exist (the path you passed for {name})")
            problems.append(f"{place.label}: {place.path} (not there)")
            continue
        try:
            return read(place.path), place, problems
        except (FileNotFoundError, DataFileError) as error:
            if place.explicit:
                raise
            problems.append(f"{place.label}: {place.path} ({error})")
    return None, None, problems


def not_found(what, problems, fixes):
    """The one error every loader raises when nothing works: each place searched, then numbered fixes."""
    searched = "\n  - ".join(problems) if problems else "(nowhere)"
    steps = "\n".join(f"  {number}. {fix}" for number, fix in enumerate(fixes, start=1))
    return FileNotFoundError(f"{what} not found. Searched:\n  - {searched}\nFix it in one of these ways:\n{steps}")


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_sha256sums(folder):
    """The ``SHA256SUMS`` manifest of `folder` as {relative path: hex digest}; empty when there is none."""
    manifest = pathlib.Path(folder) / "SHA256SUMS"
    if not manifest.is_file():
        return {}
    sums = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, _, name = line.strip().partition("  ")
            sums[name.lstrip("*").removeprefix("./")] = digest.lower()
    return sums


def verify_file(path, sums=None):
    """Check `path` against its folder's ``SHA256SUMS`` (or `sums`); raise `DataFileError` on a mismatch.

    Returns True when a listed digest matched, False when no manifest lists the file (nothing to check).
    """
    path = pathlib.Path(path)
    sums = read_sha256sums(path.parent) if sums is None else sums
    expected = sums.get(path.name)
    if expected is None:
        return False
    actual = file_digest(path)
    if actual != expected:
        raise DataFileError(
            f"{path} does not match its SHA256SUMS entry (sha256 {actual[:12]}..., expected {expected[:12]}...): "
            "it is damaged or was replaced; delete it and fetch it again"
        )
    return True


def download(origin, file_name, subdir, size_mb=None, extract=False):
    """Download `origin` into the Keras cache with ``keras.utils.get_file``; a failed one leaves nothing.

    Prints the size first when it is large. Returns the local path (the extracted folder when `extract`).
    """
    import keras

    if size_mb and size_mb >= 50:
        print(f"downloading {file_name} ({size_mb:,.0f} MB) from {origin}: this takes a while once, then it is cached")
    target = keras_home() / subdir / file_name
    target.parent.mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp/.keras if the home is missing
    try:
        return pathlib.Path(
            keras.utils.get_file(
                file_name, origin=origin, cache_subdir=subdir, cache_dir=str(keras_home()), extract=extract
            )
        )
    except BaseException:
        target.unlink(missing_ok=True)  # never leave a partial download behind to be trusted next time
        raise


def reachable(url, timeout=3.0):
    """Whether the host of `url` accepts a TCP connection within `timeout` s; nothing is sent.

    DNS is inside the timeout (the probe runs in a thread), so an offline machine answers fast. Asked once
    per host and port in a process. Used before downloads and by ``python -m tlkeras doctor``; introduced in
    notebook 02 (the backbone weights).
    """
    parts = urllib.parse.urlsplit(url)
    return _answers(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), timeout)


@functools.cache
def _answers(host, port, timeout):
    answer = []

    def connect():
        try:
            answer.append(socket.create_connection((host, port), timeout).close())
        except OSError:  # refused, unreachable, or no DNS: `answer` stays empty
            pass

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return bool(answer)


# ---- Fashion-MNIST -------------------------------------------------------------------------------------


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
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataFileError(f"{path} holds {len(raw)} bytes but its header promises {expected}; it is truncated")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_fashion(folder):
    missing = [name for name in FASHION_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    sums = read_sha256sums(folder)
    for name in FASHION_FILES:
        verify_file(folder / name, sums)
    x_train, y_train, x_test, y_test = (read_idx(folder / name) for name in FASHION_FILES)
    for images, labels, stem in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
            raise DataFileError(
                f"{folder}: {stem} files hold {images.shape} images and {labels.shape} labels, "
                "expected (n, 28, 28) and (n,)"
            )
        if labels.size and labels.max() > 9:
            raise DataFileError(f"{folder / (stem + '-labels-idx1-ubyte.gz')}: label {labels.max()} is not a class 0-9")
    return (x_train, y_train), (x_test, y_test)


def locate_fashion_mnist(path=None, origin=None):
    """Where `load_fashion_mnist` would read from, as a `Source` (nothing is read or downloaded)."""

    def complete(folder):
        missing = [name for name in FASHION_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"missing {', '.join(missing)}")
        return folder

    folder, place, _ = find("fashion-mnist", complete, path, debian=True)
    if folder is not None:
        return Source("Fashion-MNIST", "local", f"{place.label}: {folder}")
    return Source(
        "Fashion-MNIST",
        "download",
        origin or FASHION_ORIGIN,
        size_mb=30,
        fix="go online, or sudo apt-get install dataset-fashion-mnist, or set $TLKERAS_MIRROR",
    )


def load_fashion_mnist(path=None, download_missing=True, origin=None):
    """Load Fashion-MNIST as uint8 arrays: ``(x_train, y_train), (x_test, y_test)``.

    Searches `places` (explicit path, mirror, Keras cache, Debian package) for the four original
    ``.gz`` files, checking each against a ``SHA256SUMS`` when the folder has one and always against the
    expected shapes; then downloads them from `origin` (default `FASHION_ORIGIN`, the address Keras uses)
    into ``~/.keras/datasets/fashion-mnist``. Introduced in notebook 01.
    """
    result, _, problems = find("fashion-mnist", _read_fashion, path, debian=True)
    if result is not None:
        return result
    if download_missing:
        base = origin or FASHION_ORIGIN
        try:
            folder = [download(base + name, name, "datasets/fashion-mnist") for name in FASHION_FILES][0].parent
            return _read_fashion(folder)
        except DataFileError as error:  # a bad download is removed, so the next call fetches it again
            for name in FASHION_FILES:
                (keras_home() / "datasets" / "fashion-mnist" / name).unlink(missing_ok=True)
            problems.append(f"download from {base}: {error}")
        except Exception as error:  # any network, SSL or HTTP failure lands here
            problems.append(f"download from {base}: {error.__class__.__name__}: {error}")
    else:
        problems.append("download: skipped (download_missing=False)")
    raise not_found(
        "Fashion-MNIST",
        problems,
        [
            "go online, so the files can be downloaded from " + (origin or FASHION_ORIGIN),
            "sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu; files land in /usr/share/datasets)",
            f"export {config.MIRROR_ENV}=/path/to/mirror holding fashion-mnist/{FASHION_FILES[0]} and the other three",
        ],
    )
