"""Where data come from: one search order, one plan per loader, verified files, downloads, and Fashion-MNIST.

Every loader (here, `tlk.images`, `tlk.ham10000`, `tlk.backbones`) builds its `Plan` with `plan` (its own check on
each of `places`, else a download) and executes it with ``Plan.run``; ``plan_only=True`` returns the plan instead,
nothing downloaded: what ``python -m tlkeras doctor`` asks, so doctor and loader cannot disagree.
"""

import collections
import dataclasses
import functools
import gzip
import hashlib
import os
import pathlib
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib

import numpy as np

from tlkeras import config

DEBIAN_ROOT = pathlib.Path("/usr/share/datasets")
FASHION_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_ORIGIN_ENV = "TLKERAS_FASHION_ORIGIN"
FASHION_FILES = tuple(
    f"{part}-{kind}-ubyte.gz" for part in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")
)
FASHION_CLASSES = tuple("T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot".split(","))


class DataFileError(ValueError):
    """A data file exists but is truncated, corrupt or of the wrong format."""


Place = collections.namedtuple("Place", "label path explicit", defaults=[False])  # explicit: the user named it


@dataclasses.dataclass
class Plan:
    """Where a loader gets `what` from: `place` (its check returned `found`), else a download from `urls`.

    `problems` says why each place was passed over; `fixes` are the steps printed when nothing works.
    """

    what: str
    place: Place = None
    found: object = None
    problems: list = dataclasses.field(default_factory=list)
    urls: tuple = ()
    size_mb: float = None
    fixes: tuple = ()

    @property
    def kind(self):
        """ "local" (a place passed its check), "download" (a URL will be tried) or "missing"."""
        return "local" if self.place is not None else "download" if self.urls else "missing"

    @property
    def where(self):
        """The place, or the download address(es), as one line."""
        return f"{self.place.label}: {self.place.path}" if self.place else " or ".join(self.urls) or "nowhere"

    def run(self, download):
        """`found`, else ``download(url)`` for each URL in turn, else a FileNotFoundError naming places and fixes."""
        if self.place is not None:
            return self.found
        for url in self.urls:
            try:
                return download(url)
            except Exception as error:  # network, HTTP, disk or a damaged download: noted, then the next URL
                self.problems.append(f"download from {url}: {error.__class__.__name__}: {error}")
        searched = "\n  - ".join(self.problems)
        steps = "\n".join(f"  {number}. {fix}" for number, fix in enumerate(self.fixes, start=1))
        raise FileNotFoundError(
            f"{self.what} not found. Searched:\n  - {searched}\nFix it in one of these ways:\n{steps}"
        )


def keras_home():
    """The Keras cache root (``$KERAS_HOME`` or ``~/.keras``)."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")).expanduser()


def offline():
    """True when ``$TLKERAS_OFFLINE`` is set to 1/true/yes: no loader downloads anything."""
    return os.environ.get(config.OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def origin(env, default):
    """A download base URL: ``$<env>`` (another server with the same layout, e.g. a local one), else `default`."""
    return (os.environ.get(env) or default).rstrip("/") + "/"


def places(name, path=None, kind="datasets", debian=False):
    """The places searched for data set `name`, in order; `kind` "models" searches the weights folders instead."""
    mirror = config.mirror_dir()
    found = [Place("path argument", pathlib.Path(path).expanduser(), explicit=True)] if path is not None else []
    if mirror is not None:
        found.append(Place(f"${config.MIRROR_ENV}", mirror / ("keras/models" if kind == "models" else name)))
    found.append(Place("Keras cache", keras_home() / kind / ("" if kind == "models" else name)))
    return found + ([Place("Debian package", DEBIAN_ROOT / name)] if debian else [])


def plan(what, name, check, path=None, urls=(), size_mb=None, fixes=(), kind="datasets", debian=False):
    """The `Plan` of a loader: the first of `places` where ``check(folder)`` returns, else the download `urls`.

    `check` raises `FileNotFoundError` (nothing usable) or `DataFileError` (broken): at once for an explicit `path`,
    else noted and the next place tried. No download is planned when ``$TLKERAS_OFFLINE`` is set.
    """
    problems = []
    for place in places(name, path, kind=kind, debian=debian):
        if not place.path.exists():
            if place.explicit:
                raise FileNotFoundError(f"{place.path} does not exist (the path you passed for {name})")
            problems.append(f"{place.label}: {place.path} (not there)")
            continue
        try:
            return Plan(what, place, check(place.path), problems, (), size_mb, tuple(fixes))
        except (FileNotFoundError, DataFileError) as error:
            if place.explicit:
                raise
            problems.append(f"{place.label}: {place.path} ({error})")
    if not urls:
        problems.append("download: skipped (download=False)")
    elif offline():
        problems.append(f"download: skipped (${config.OFFLINE_ENV} is set)")
    return Plan(what, None, None, problems, () if offline() else tuple(urls), size_mb, tuple(fixes))


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _listed(manifest, mtime_ns):  # {path relative to the manifest's folder: digest}, read once per version
    lines = [line.strip().partition("  ") for line in manifest.read_text().splitlines()]
    return {name.lstrip("*").removeprefix("./"): digest.lower() for digest, _, name in lines if name}


def verify_file(path):
    """Check `path` against the nearest ``SHA256SUMS`` above it: True if it matches, False if not listed, else
    `DataFileError`."""
    path = pathlib.Path(path)
    folder = next((f for f in path.parents if (f / "SHA256SUMS").is_file()), None)
    listed = _listed(folder / "SHA256SUMS", (folder / "SHA256SUMS").stat().st_mtime_ns) if folder else {}
    expected = listed.get(path.relative_to(folder).as_posix()) if folder else None
    if expected is None:
        return False
    actual = file_digest(path)
    if actual != expected:
        raise DataFileError(
            f"{path} does not match its SHA256SUMS entry (sha256 {actual[:12]}..., expected {expected[:12]}...): "
            "it is damaged or was replaced; delete it and fetch it again"
        )
    return True


def fetch(files, subdir, check=None, size_mb=None):
    """Download `files` ({file name: URL}) into ``~/.keras/<subdir>`` with ``keras.utils.get_file``.

    The one download policy: nothing when ``$TLKERAS_OFFLINE`` is set; a failed transfer leaves no partial file
    (complete ones stay, so a second try resumes); when ``check(folder)`` raises `DataFileError` every file of
    this download is removed, so nothing damaged is trusted next time. Returns what `check` returns.
    """
    import keras

    if offline():
        raise ConnectionError(f"${config.OFFLINE_ENV} is set: no downloads")
    folder = keras_home() / subdir
    folder.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras
    if size_mb and size_mb >= 50:
        minutes = f"about {size_mb * 8 / 100 / 60:.0f} min at 100 Mbit/s"
        print(f"downloading {', '.join(files)} ({size_mb:,.0f} MB, {minutes}) into {folder}, once")
    name = None
    try:
        for name, url in files.items():
            keras.utils.get_file(name, origin=url, cache_subdir=subdir, cache_dir=str(keras_home()))
        return check(folder) if check else folder
    except DataFileError:  # damaged: every file of this download goes
        for other in files:
            (folder / other).unlink(missing_ok=True)
        raise
    except BaseException:  # the transfer of `name` failed: its partial file goes, complete ones stay
        (folder / str(name)).unlink(missing_ok=True)
        raise
    finally:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def unzip(zips, target, check, inside=""):
    """Extract `zips` (every member's CRC checked) into a staging folder; ``check(staging / inside)`` raises if it
    is incomplete, else that folder becomes `target` and the zips are deleted: all or nothing. Returns `target`."""
    with tempfile.TemporaryDirectory(prefix=".unzip-", dir=target.parent, ignore_cleanup_errors=True) as staging:
        for path in zips:
            try:
                with zipfile.ZipFile(path) as archive:
                    bad = archive.testzip()
                    if bad is not None:
                        raise DataFileError(f"{path.name}: member {bad} fails its CRC check (a damaged download)")
                    archive.extractall(staging)
            except (zipfile.BadZipFile, EOFError, OSError) as error:
                raise DataFileError(f"{path.name} is not a complete zip file ({error}): a truncated download") from None
        check(pathlib.Path(staging, inside))
        os.replace(pathlib.Path(staging, inside), target)
    for path in zips:
        path.unlink()
    return target


def reachable(url):
    """Whether the server of `url` answers an HTTP HEAD request within 3 s (DNS included), through the proxy a
    download would use; any HTTP answer counts except a proxy's 502-504. Asked once per server. For the doctor."""
    parts = urllib.parse.urlsplit(url)
    return _answers(f"{parts.scheme}://{parts.netloc}/", tuple(sorted(urllib.request.getproxies().items())))


@functools.cache
def _answers(server, proxies, timeout=3.0):
    answer = []

    def ask():
        try:
            opener = urllib.request.build_opener()  # reads the proxy settings now (urlopen keeps its first ones)
            opener.open(urllib.request.Request(server, method="HEAD"), timeout=timeout).close()
            answer.append(True)
        except urllib.error.HTTPError as error:  # the server answered, unless a proxy says it could not reach it
            answer.append(error.code not in (502, 503, 504))
        except Exception:  # refused, unreachable, no DNS, a proxy tunnel that failed: `answer` stays empty
            pass

    probe = threading.Thread(target=ask, daemon=True)  # a thread, because the socket timeout does not cover DNS
    probe.start()
    probe.join(timeout + 0.5)
    return bool(answer and answer[0])


# ---- Fashion-MNIST -------------------------------------------------------------------------------------


def read_idx(path):
    """Read one (optionally gzipped) IDX file into a NumPy array, with a clear error if it is damaged."""
    path = pathlib.Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(f"{path} is damaged ({error.__class__.__name__}: {error}): download it again") from None
    if len(raw) < 8 or raw[:3] != b"\0\0\x08":
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes (bad header)")
    header = 4 + 4 * raw[3]
    dims = tuple(int.from_bytes(raw[start : start + 4], "big") for start in range(4, header, 4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataFileError(f"{path} holds {len(raw)} bytes but its header promises {expected}: it is truncated")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_fashion(folder):
    missing = [name for name in FASHION_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    for name in FASHION_FILES:
        verify_file(folder / name)
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


def load_fashion_mnist(path=None, download=True, plan_only=False):
    """Fashion-MNIST as uint8 arrays ``(x_train, y_train), (x_test, y_test)`` from the first of `places` that holds
    the four original ``.gz`` files (checked against a ``SHA256SUMS`` that lists them, and their shapes), else
    downloaded from ``$TLKERAS_FASHION_ORIGIN`` or `FASHION_ORIGIN` (Keras' address) into the Keras cache.
    ``plan_only=True`` returns the `Plan`. Introduced in notebook 01.
    """
    base = origin(FASHION_ORIGIN_ENV, FASHION_ORIGIN)
    fixes = (
        f"go online, so the files can be downloaded from {base}",
        "sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu; files land in /usr/share/datasets)",
        f"export {config.MIRROR_ENV}=/path/to/mirror holding fashion-mnist/{FASHION_FILES[0]} and the other three",
    )
    urls = (base,) if download else ()
    planned = plan("Fashion-MNIST", "fashion-mnist", _read_fashion, path, urls, 30, fixes, debian=True)
    if plan_only:
        return planned
    subdir = "datasets/fashion-mnist"
    return planned.run(lambda url: fetch({name: url + name for name in FASHION_FILES}, subdir, _read_fashion))
