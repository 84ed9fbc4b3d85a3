"""Pretrained ImageNet backbones: the weight file `keras.applications` asks for, found and checked
(`imagenet_weights`), the backbone built from it (`load`), and the frozen-base feature cache (`features`).

File names, addresses and pinned hashes are Keras' own; here is only what Keras does not do: the course's search
order, the mirror's ``SHA256SUMS``, a complete-file check and the smoke stand-in. Notebook 02; used by 03 and 05.
"""

import dataclasses
import functools
import pathlib
import re
import time
import warnings
from unittest import mock

import numpy as np

from tlkeras import cache, config, data, images

ORIGIN_ENV = "TLKERAS_WEIGHTS_ORIGIN"  # another server with Keras' folder layout (the tests use a local one)
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Application:
    """A `keras.applications` constructor, its ImageNet input size and its download size without the top in MB
    (Keras does not say; a MobileNet's scales with alpha squared)."""

    constructor: str
    input_size: int
    size_mb: float


APPLICATIONS = {
    "resnet50": Application("ResNet50", 224, 94.7),  # the key is also the module with its preprocess_input
    "inception_v3": Application("InceptionV3", 299, 87.9),
    "mobilenet": Application("MobileNet", 224, 12.9),
}


def _label(name, alpha):
    return f"{name}_{alpha:g}" if alpha is not None else name


@dataclasses.dataclass(frozen=True, kw_only=True)
class Weights:
    """What a backbone is built from: the network `name` (`alpha`, `input_size`), the checked ImageNet weight file
    `path` (None: random weights), the `tlk.data.Plan` that found it, the backbone `requested`, and a `note` saying
    why a stand-in or random weights are used."""

    name: str
    alpha: float | None
    input_size: int
    path: str | None
    plan: data.Plan
    requested: str
    note: str = ""

    label = property(lambda self: _label(self.name, self.alpha))


@dataclasses.dataclass
class Backbone:
    """A built backbone: the Keras `model`, the `Weights` it was built from (whose facts it shows), and its `name`:
    the network's, or its own for a model cut from it (``dataclasses.replace``), so its cached features are too."""

    model: object
    weights: Weights
    name: str | None = None

    def __post_init__(self):
        self.name = self.name or self.weights.name

    alpha = property(lambda self: self.weights.alpha)
    input_size = property(lambda self: self.weights.input_size)
    label = property(lambda self: _label(self.name, self.alpha))
    requested = property(lambda self: self.weights.requested)
    note = property(lambda self: self.weights.note)
    pretrained = property(lambda self: self.weights.path is not None)

    @property
    def preprocess(self):
        """The network's own `preprocess_input` (it takes float images in 0..255)."""
        import keras

        return getattr(keras.applications, self.weights.name).preprocess_input


def split_name(name, alpha=None):
    """("mobilenet", 0.25) from "mobilenet_0.25" or ("mobilenet", alpha=0.25); ("resnet50", None) for the rest."""
    match = re.fullmatch(r"mobilenet_(\d*\.\d+)", str(name))
    name, alpha = ("mobilenet", float(match[1])) if match else (name, alpha)
    if name not in APPLICATIONS:
        raise ValueError(f"Unknown backbone {name!r}; expected one of {', '.join(APPLICATIONS)} (or mobilenet_0.25)")
    if name != "mobilenet" and alpha not in (None, 1, 1.0):
        raise ValueError(f"{name} has no width multiplier alpha; pass alpha=None")
    return name, (float(1.0 if alpha is None else alpha) if name == "mobilenet" else None)


class _Asked(Exception):
    pass


@functools.cache
def keras_weight_file(name, alpha, input_size, include_top):
    """(file name, URL, pinned hash or None) that `keras.applications` downloads for these arguments: the
    constructor runs with ``weights="imagenet"`` up to its ``get_file`` call, which is stopped there."""
    import keras
    from keras.src.utils import file_utils  # the module every application calls get_file through

    def ask(fname=None, origin=None, *args, file_hash=None, **kwargs):
        raise _Asked(fname, origin, file_hash)

    options = {} if alpha is None else {"alpha": alpha}
    constructor = getattr(keras.applications, APPLICATIONS[name].constructor)
    with mock.patch.object(file_utils, "get_file", ask), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' note that a MobileNet of another size gets the 224 file
        try:
            constructor(include_top=include_top, weights="imagenet", input_shape=(input_size, input_size, 3), **options)
        except _Asked as asked:
            return asked.args
    raise RuntimeError(f"keras.applications.{APPLICATIONS[name].constructor} asked for no weight file")


def _candidates(name, alpha, size, include_top):
    """Keras' file for `size`, then (without the top, where the file is the same for every input size) the one for
    the ImageNet size: Keras names MobileNet files by input size, and the mirror holds only 224."""
    files = [keras_weight_file(name, alpha, size, include_top)]
    if not include_top and size != APPLICATIONS[name].input_size:
        files.append(keras_weight_file(name, alpha, APPLICATIONS[name].input_size, False))
    return list(dict.fromkeys(files))


def check_weights(path, file_hash=None):
    """`tlk.data.DataFileError` naming `path` unless it matches its ``SHA256SUMS`` entry (if listed), the hash Keras
    pins (if any; none for MobileNets) and reads back as a complete HDF5 file."""
    import h5py

    fix = "delete it and fetch it again (go online, or copy a good file from a mirror)"
    data.verify_file(path)
    algorithm = "sha256" if file_hash and len(file_hash) == 64 else "md5"
    if file_hash and data.file_digest(path, algorithm) != file_hash:
        raise data.DataFileError(f"{path} does not match the {algorithm} Keras pins for it ({file_hash}): {fix}")
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except Exception as error:  # h5py raises OSError, KeyError, RuntimeError for damaged files
        raise data.DataFileError(f"{path} is not a complete HDF5 weight file ({error}): {fix}") from None


def _plan(name, alpha, size, include_top, download=True):
    """The `tlk.data.Plan` for one weight file (the first place whose copy passes `check_weights`, else Keras'
    address, on ``$TLKERAS_WEIGHTS_ORIGIN`` when set) and the download that executes it."""
    files = _candidates(name, alpha, size, include_top)
    file_name, url, _ = files[0]
    url = url.replace(KERAS_ORIGIN, data.origin(ORIGIN_ENV, KERAS_ORIGIN))
    size_mb = round(APPLICATIONS[name].size_mb * (alpha or 1.0) ** 2, 1)

    def check(folder):
        for candidate, _, file_hash in files:
            if (folder / candidate).is_file():
                check_weights(folder / candidate, file_hash)
                return folder / candidate
        raise FileNotFoundError(f"no {' or '.join(candidate for candidate, _, _ in files)}")

    fixes = (
        f"go online, so {file_name} (about {size_mb:.0f} MB) is downloaded from {url}",
        f"put {file_name} into ${config.MIRROR_ENV}/keras/models/ or {data.keras_home() / 'models'}/",
        f"offline on a CPU: PROFILE='smoke' continues with the stand-in {config.STAND_IN} when its weights are on disk",
    )

    def fetch(url):  # a cached copy that failed its check above is replaced, never trusted
        (data.keras_home() / "models" / file_name).unlink(missing_ok=True)
        return data.fetch({file_name: url}, "models", check=check, size_mb=size_mb)

    what, urls = f"ImageNet weights {file_name}", (url,) if download else ()
    return data.plan(what, name, check, urls=urls, size_mb=size_mb, fixes=fixes, kind="models"), fetch


def imagenet_weights(name, profile, alpha=None, input_size=None, include_top=False, plan_only=False):
    """`Weights` with the checked ImageNet file of backbone `name` ("resnet50", "mobilenet_0.25", ...) from the mirror
    or the Keras cache, else a download. "cpu" and "full" never substitute (FileNotFoundError naming the places and
    fixes); "smoke" downloads nothing and goes on with the stand-in `tlk.config.STAND_IN` if on disk, else random
    weights, with a banner. ``plan_only=True`` returns the `tlk.data.Plan` (nothing downloaded). Notebook 02."""
    profile = config.resolve_profile(profile)
    name, alpha = split_name(name, alpha)
    size, requested = int(input_size or APPLICATIONS[name].input_size), _label(name, alpha)
    plan, fetch = _plan(name, alpha, size, include_top, download=profile != "smoke")
    chosen = Weights(name=name, alpha=alpha, input_size=size, path=None, plan=plan, requested=requested)
    stand_in, stand_alpha = split_name(config.STAND_IN)
    if plan.kind == "missing" and profile == "smoke" and (stand_in, stand_alpha) != (name, alpha):
        stand_size = APPLICATIONS[stand_in].input_size if input_size is None or include_top else size
        other, _ = _plan(stand_in, stand_alpha, stand_size, include_top, download=False)
        if other.kind == "local":
            other.what += f" (smoke: stand-in for {requested})"
            if plan_only:
                return other
            searched = "".join(f"\n  - {problem}" for problem in plan.problems)
            note = f"{plan.what} not found:{searched}\nSmoke continues with {config.STAND_IN} from {other.where}"
            stand = dict(name=stand_in, alpha=stand_alpha, input_size=stand_size, path=str(other.found), plan=other)
            return _announce("STAND-IN BACKBONE", dataclasses.replace(chosen, note=note, **stand))
        plan.problems += [f"stand-in {config.STAND_IN}: {problem}" for problem in other.problems]
    if plan_only:
        return plan
    try:
        return dataclasses.replace(chosen, path=str(plan.run(fetch)))
    except FileNotFoundError as error:
        if profile != "smoke":
            raise
        note = f"{error}\nNo ImageNet weights could be found: {requested} gets RANDOM weights"
        return _announce("NO PRETRAINED BACKBONE", dataclasses.replace(chosen, note=note))


def _announce(title, weights):
    print("=" * 78, f"{title}: {weights.note}", "=" * 78, sep="\n")
    return weights


def load(name, profile, input_size=None, alpha=None, include_top=False, weights="imagenet"):
    """Build backbone `name` with `keras.applications` and return a `Backbone` (pooled "avg" without the top).

    The call notebook 02 writes out: `imagenet_weights` finds the file, the constructor loads it (``weights=None``:
    random weights, nothing searched). A file that does not fit the network raises `tlk.data.DataFileError`.
    """
    import keras

    if weights not in ("imagenet", None):
        raise ValueError(f"weights is 'imagenet' or None, not {weights!r}")
    if weights == "imagenet":
        found = imagenet_weights(name, profile, alpha, input_size, include_top)
    else:
        name, alpha = split_name(name, alpha)
        size, plan = int(input_size or APPLICATIONS[name].input_size), data.Plan("random weights")
        found = Weights(name=name, alpha=alpha, input_size=size, path=None, plan=plan, requested=_label(name, alpha))
    options = ({} if include_top else {"pooling": "avg"}) | ({} if found.alpha is None else {"alpha": found.alpha})
    constructor = getattr(keras.applications, APPLICATIONS[found.name].constructor)
    shape = (found.input_size, found.input_size, 3)
    try:
        model = constructor(include_top=include_top, weights=found.path, input_shape=shape, **options)
    except ValueError as error:
        if found.path is None:  # a bad argument, not a bad file
            raise
        raise data.DataFileError(
            f"{found.path} does not load into {found.label} ({error}): delete it and fetch it again"
        ) from None
    return Backbone(model, found)


def features(backbone, paths, labels, name, folder=None):
    """`tlk.cache.Entry` ("features", "labels") of the images at `paths` through ``backbone.model``, computed once;
    another backbone, weights, size, preprocess or data (files, labels) recomputes. `name`: "cats_vs_dogs-train"."""
    paths, labels, model = [pathlib.Path(p) for p in paths], np.asarray(labels), backbone.model
    preprocess, weights_file = backbone.preprocess, backbone.weights.path
    metadata = {
        "backbone": backbone.label,
        "weights_hash": cache.fingerprint([(weight.path, weight.numpy()) for weight in model.weights]),
        "weights_file": pathlib.Path(weights_file).name if weights_file else None,
        "image_size": int(backbone.input_size),
        "preprocess": f"{preprocess.__module__}.{preprocess.__qualname__}",
        "output_shape": list(model.output_shape[1:]),
        "data_fingerprint": cache.fingerprint(paths, labels),
        "count": len(paths),
    }
    stem = f"{backbone.label}-{name}"  # one entry per backbone and part: another image size makes it stale

    def compute():
        parts, start, shown = [], time.perf_counter(), 0.0
        for batch, _ in images.dataset(paths, labels, backbone.input_size, preprocess, batch_size=64):
            parts.append(np.asarray(model.predict_on_batch(batch)))
            done, elapsed = sum(len(part) for part in parts), time.perf_counter() - start
            if elapsed - shown >= 10 or done == len(paths):
                print(f"features {stem}: {done:,}/{len(paths):,} images, {elapsed:.0f} s")
                shown = elapsed
        return {"features": np.concatenate(parts), "labels": labels}

    return cache.cached(stem, metadata, compute, folder=folder or config.cache_dir("features"))
