"""Pretrained ImageNet backbones: find, verify and build them (`load`), and cache their features (`features`).

Weight files come from the one search order (mirror, Keras cache), else a download from `WEIGHTS_ORIGIN`, and
are checked before loading. Only the smoke profile may use a stand-in. Notebook 02; used by 03, 04 and 05.
"""

import collections
import dataclasses
import os
import pathlib
import re
from collections.abc import Callable

import numpy as np

from tlkeras import data

OFFLINE_ENV = "TLKERAS_OFFLINE"
ORIGIN_ENV = "TLKERAS_WEIGHTS_ORIGIN"
WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
EFFICIENTNET_ORIGIN = "https://storage.googleapis.com/keras-applications/"  # Keras keeps EfficientNets apart


# How to build one keras.applications backbone (constructor, module holding preprocess_input, input size) and
# its ImageNet weights: file names as Keras caches them ({alpha}, {size} filled in for MobileNets), the md5
# Keras pins (None: it pins none), the download subfolder, width multipliers, download MB without the top.
BackboneInfo = collections.namedtuple(
    "BackboneInfo", "constructor module input_size top_file notop_file top_hash notop_hash url_dir alphas "
    "default_alpha size_mb", defaults=(None, None, "", (), None, 0.0))  # fmt: skip


BACKBONES = {
    "resnet50": BackboneInfo(
        "ResNet50", "resnet50", 224, "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626", "resnet/", size_mb=94.7),
    "mobilenet_v2": BackboneInfo(
        "MobileNetV2", "mobilenet_v2", 224, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5",
        None, None, "mobilenet_v2/", (0.35, 0.5, 0.75, 1.0, 1.3, 1.4), 1.0, 9.4),
    "inception_v3": BackboneInfo(
        "InceptionV3", "inception_v3", 299, "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63", "inception_v3/", size_mb=87.9),
    "vgg16": BackboneInfo(
        "VGG16", "vgg16", 224, "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc", "vgg16/", size_mb=58.9),
    "efficientnet_b0": BackboneInfo(
        "EfficientNetB0", "efficientnet", 224, "efficientnetb0.h5", "efficientnetb0_notop.h5",
        "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d", "", size_mb=16.7),
    "mobilenet": BackboneInfo(
        "MobileNet", "mobilenet", 224, "mobilenet_{alpha}_{size}_tf.h5", "mobilenet_{alpha}_{size}_tf_no_top.h5",
        None, None, "mobilenet/", (0.25, 0.5, 0.75, 1.0), 1.0, 12.9),
}  # fmt: skip
# Stand-ins tried in the smoke profile, best first (ImageNet top-1 77.1, 74.9, 77.9 at 299 px, 71.3, ... 50.6).
STAND_INS = (("efficientnet_b0", None), ("resnet50", None), ("inception_v3", None), ("mobilenet_v2", 1.0),
             ("mobilenet", 1.0), ("mobilenet", 0.75), ("vgg16", None), ("mobilenet_v2", 0.75), ("mobilenet", 0.5),
             ("mobilenet_v2", 0.5), ("mobilenet_v2", 0.35), ("mobilenet", 0.25))  # fmt: skip


@dataclasses.dataclass
class Backbone:
    """A built backbone and the facts a notebook should report about it."""

    model: object
    name: str
    requested: str
    pretrained: bool
    input_size: int
    preprocess: Callable
    weights_path: str | None = None
    note: str = ""
    alpha: float | None = None

    @property
    def label(self):
        """Short name such as "mobilenet_0.25" or "resnet50" for tables and results."""
        return f"{self.name}_{self.alpha:g}" if self.alpha is not None else self.name


def parse_name(name, alpha=None):
    """(name, alpha) from a backbone name or a label such as "mobilenet_0.25" (the width multiplier in the name)."""
    match = re.fullmatch(r"(mobilenet|mobilenet_v2)_(\d*\.\d+)", str(name))
    if match and name not in BACKBONES:
        name, alpha = match[1], float(match[2])
    return name, _alpha(name, alpha)


def _info(name):
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; expected one of {', '.join(BACKBONES)} (or e.g. mobilenet_0.25)")
    return BACKBONES[name]


def _alpha(name, alpha):
    info = _info(name)
    if not info.alphas:
        if alpha not in (None, 1, 1.0):
            raise ValueError(f"{name} has no width multiplier; pass alpha=None")
        return None
    alpha = info.default_alpha if alpha is None else float(alpha)
    if alpha not in info.alphas:
        raise ValueError(f"{name} has ImageNet weights for alpha in {info.alphas}, not {alpha}")
    return alpha


def weight_file_names(name, alpha=None, include_top=False, input_size=None):
    """The file names Keras caches this backbone's ImageNet weights under, best match first (MobileNets have one
    file per input size; other sizes fall back to the 224 file, as Keras itself does)."""
    info = _info(name)
    alpha = _alpha(name, alpha)
    pattern = info.top_file if include_top else info.notop_file
    if name == "mobilenet":
        sizes, alpha_text = (128, 160, 192, 224), {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    elif name == "mobilenet_v2":
        sizes, alpha_text = (96, 128, 160, 192, 224), str(float(alpha))
    else:
        return [pattern]
    order = [input_size] if input_size in sizes else []
    order += [224] + [s for s in sorted(sizes, reverse=True) if s != 224]
    order = list(dict.fromkeys(order))
    if include_top:  # the ImageNet classifier only makes sense at the size it was trained for
        order = [input_size if input_size in sizes else 224]
    return [pattern.format(alpha=alpha_text, size=size) for size in order]


def pinned_hash(name, include_top=False):
    """The md5 Keras pins for this backbone's weight file, or None when Keras pins none."""
    info = _info(name)
    return info.top_hash if include_top else info.notop_hash


def weights_origin(origin=None):
    """Where weights are downloaded from: `origin`, else $TLKERAS_WEIGHTS_ORIGIN, else `WEIGHTS_ORIGIN`."""
    return (origin or os.environ.get(ORIGIN_ENV) or WEIGHTS_ORIGIN).rstrip("/") + "/"


def weights_url(name, file_name, origin=None):
    """The download address of `file_name`: the origin, the backbone's Keras subfolder, the file name."""
    base = weights_origin(origin)
    if name == "efficientnet_b0" and base == WEIGHTS_ORIGIN:
        base = EFFICIENTNET_ORIGIN
    return base + _info(name).url_dir + file_name


def check_weights(path, name, include_top=False):
    """Raise `tlk.data.DataFileError` naming `path` unless it matches its folder's ``SHA256SUMS`` (if any), the md5
    Keras pins (if any: none for MobileNets) and is a complete HDF5 file whose arrays all read back."""
    import h5py

    path = pathlib.Path(path)
    fix = "delete it and fetch it again (go online, or copy a good file from a mirror)"
    data.verify_file(path)
    expected = pinned_hash(name, include_top)
    if expected and data.file_digest(path, "md5") != expected:
        raise data.DataFileError(f"{path} does not match the md5 Keras pins for it ({expected}): {fix}")
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except Exception as error:  # h5py raises OSError, KeyError, RuntimeError for damaged files
        raise data.DataFileError(f"{path} is not a complete HDF5 weight file ({error}): {fix}") from None


def _size_mb(name, alpha):
    return _info(name).size_mb * (1.0 if alpha is None else (alpha / _info(name).default_alpha) ** 2)


def resolve_weights(name, alpha=None, include_top=False, input_size=None, download=True, origin=None):
    """Path of a checked ImageNet weight file, from `tlk.data.places(kind="models")` or a download (unless
    `download` is False, TLKERAS_OFFLINE=1 or the host is unreachable). A file failing `check_weights` is
    reported (a failed download is removed, never loaded); none at all raises FileNotFoundError with the fixes."""
    names = weight_file_names(name, alpha, include_top, input_size)

    def read(folder):
        for path in (folder / file_name for file_name in names):
            if path.is_file():
                check_weights(path, name, include_top)
                return path
        raise FileNotFoundError(f"no {' or '.join(names)}")

    path, _, problems = data.find(name, read, kind="models")
    if path is not None:
        return path
    url, target = weights_url(name, names[0], origin), data.keras_home() / "models" / names[0]
    if not download or os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"):
        problems.append(f"download from {url}: skipped ({'download=False' if not download else OFFLINE_ENV + '=1'})")
    elif not data.reachable(url):
        problems.append(f"download from {url}: host not reachable (offline?)")
    else:
        target.unlink(missing_ok=True)  # a cached copy that failed its check above is fetched again
        try:
            path = data.download(url, names[0], "models", size_mb=_size_mb(name, alpha))
            check_weights(path, name, include_top)
            return path
        except Exception as error:  # network, HTTP or check failure: nothing half-done stays behind
            target.unlink(missing_ok=True)
            problems.append(f"download from {url}: {error.__class__.__name__}: {error} (removed)")
    raise data.not_found(f"ImageNet weights {names[0]}", problems, [
        f"go online, so {names[0]} (about {_size_mb(name, alpha):.0f} MB) is downloaded from {weights_origin(origin)}",
        f"put {names[0]} into $TLKERAS_MIRROR/keras/models/ or {data.keras_home() / 'models'}/",
        "offline on a CPU: PROFILE='smoke' continues with a stand-in backbone whose weights are on disk",
    ])  # fmt: skip


def locate_weights(name, alpha=None, include_top=False, input_size=None):
    """Where `resolve_weights` would get the weights, as a `tlk.data.Source` (nothing checked or downloaded).

    For ``python -m tlkeras doctor``: the first place holding the file, else the download address and its size.
    """
    name, alpha = parse_name(name, alpha)
    names = weight_file_names(name, alpha, include_top, input_size)
    what = f"ImageNet weights {names[0]}"
    for place in data.places(name, kind="models"):
        for file_name in names:
            if (place.path / file_name).is_file():
                return data.Source(what, "local", f"{place.label}: {place.path / file_name}")
    fix = f"go online once, or put {names[0]} into $TLKERAS_MIRROR/keras/models/ or {data.keras_home() / 'models'}/"
    return data.Source(what, "download", weights_url(name, names[0]), round(_size_mb(name, alpha), 1), fix)


def _build(name, alpha, input_size, include_top, pooling, weights_path):
    import keras

    info = _info(name)
    kwargs = dict(include_top=include_top, weights=None, input_shape=(input_size, input_size, 3))
    kwargs.update({} if include_top else {"pooling": pooling}, **({} if alpha is None else {"alpha": alpha}))
    if include_top and input_size != info.input_size and name != "mobilenet_v2":
        raise ValueError(f"{name} with its ImageNet top needs input_size={info.input_size}, not {input_size}")
    model = getattr(keras.applications, info.constructor)(**kwargs)
    if weights_path is not None:
        try:
            model.load_weights(str(weights_path))
        except Exception as error:  # wrong architecture, wrong alpha, damaged file
            raise data.DataFileError(
                f"{weights_path} does not load into {name} ({error.__class__.__name__}: {error}): delete it and "
                "fetch it again, or pass the file that matches this backbone"
            ) from None
    return model


def preprocess_for(name):
    """The backbone's own `preprocess_input` (takes float images in 0..255)."""
    import keras

    return getattr(keras.applications, _info(name).module).preprocess_input


def load(name, profile, input_size=None, alpha=None, include_top=False, pooling="avg", weights="imagenet", origin=None):
    """Build backbone `name` with ImageNet weights and return a `Backbone`. Introduced in notebook 02.

    `name`: a key of `BACKBONES` or a label such as "mobilenet_0.25" (the CPU-friendly choice). `profile` is
    required (``P.profile``): "smoke" may continue with a stand-in whose weights are on disk (with a banner);
    "cpu" and "full" never substitute and raise the error with its fix. `weights`: "imagenet", None or a path.
    """
    from tlkeras import config

    profile = config.resolve_profile(profile)
    name, alpha = parse_name(name, alpha)
    size = int(input_size or _info(name).input_size)
    if size < 32:
        raise ValueError(f"input_size must be at least 32 pixels, not {size}")
    if weights != "imagenet":
        path = None if weights is None else pathlib.Path(weights)
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        model = _build(name, alpha, size, include_top, pooling, path)
        return Backbone(model, name, name, path is not None, size, preprocess_for(name), path and str(path), "", alpha)
    try:
        path = resolve_weights(name, alpha, include_top, size, origin=origin)
        model = _build(name, alpha, size, include_top, pooling, path)
        return Backbone(model, name, name, True, size, preprocess_for(name), str(path), "", alpha)
    except (FileNotFoundError, data.DataFileError) as error:
        if profile != "smoke":
            raise
        problem = str(error)
    tried = []
    for used, used_alpha in STAND_INS:
        if (used, used_alpha) == (name, alpha):
            continue
        used_size = _info(used).input_size if input_size is None or include_top else size
        try:
            path = resolve_weights(used, used_alpha, include_top, used_size, download=False)
            model = _build(used, used_alpha, used_size, include_top, pooling, path)
        except (FileNotFoundError, data.DataFileError) as error:  # a damaged stand-in is named, then the next
            tried += [line.strip(" -") for line in str(error).splitlines() if "fetch it again" in line]
            continue
        shown = f"{used} alpha={used_alpha:g}" if used_alpha is not None else used
        note = f"{problem}\nThe smoke profile continues with {shown} ({path.name}) as a STAND-IN for {name}"
        print("=" * 78, "STAND-IN BACKBONE: " + "\n".join([note, *tried]), "=" * 78, sep="\n")
        return Backbone(model, used, name, True, used_size, preprocess_for(used), str(path), note, used_alpha)
    note = f"{problem}\nNo ImageNet weights for any backbone could be found: {name} has RANDOM weights"
    print("=" * 78, "NO PRETRAINED BACKBONE: " + "\n".join([note, *tried]), "=" * 78, sep="\n")
    model = _build(name, alpha, size, include_top, pooling, None)
    return Backbone(model, name, name, False, size, preprocess_for(name), None, note, alpha)


def features(backbone, paths, labels, name, batch_size=64, folder=None):
    """Frozen-base features of the images at `paths`, computed once and then read from `tlk.cache`.

    Streams `tlk.images.dataset` through ``backbone.model``; any change of backbone, weights, weight file, size,
    preprocess, output shape or data (file name/size/time, labels) recomputes. `name` names the part, e.g.
    "cats_vs_dogs-train". Returns a `tlk.cache.Entry` ("features", "labels"). Notebooks 02, 03, 05.
    """
    from tlkeras import cache, config, images

    paths, labels, model = [pathlib.Path(p) for p in paths], np.asarray(labels), backbone.model
    preprocess = backbone.preprocess
    metadata = {
        "backbone": backbone.label,
        "weights_hash": cache.weights_hash(model),
        "weights_file": pathlib.Path(backbone.weights_path).name if backbone.weights_path else None,
        "image_size": int(backbone.input_size),
        "preprocess": f"{getattr(preprocess, '__module__', '')}.{getattr(preprocess, '__qualname__', preprocess)}",
        "output_shape": list(model.output_shape[1:]),
        "data_fingerprint": cache.fingerprint(paths, labels),
        "count": len(paths),
    }

    def compute():
        pipeline = images.dataset(paths, labels, backbone.input_size, preprocess, batch_size)
        return {"features": model.predict(pipeline.map(lambda x, _: x), verbose=0), "labels": labels}

    stem = f"{backbone.label}-{name}"  # one entry per backbone and part: another image size makes it stale
    return cache.cached(stem, metadata, compute, folder=folder or config.cache_dir("features"))
