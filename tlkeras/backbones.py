"""Pretrained ImageNet backbones: find their weight files (mirror, Keras cache, download), verify, and build them.

`load("resnet50")` returns a `Backbone`: the Keras model plus what was actually used. In the
``smoke`` profile a backbone whose ImageNet weights cannot be had is replaced by the best one that
can (printed in a banner); the ``full`` profile never substitutes.
"""
import dataclasses
import os
import pathlib
import threading
from typing import Callable, Optional

from tlkeras import data

OFFLINE_ENV = "TLKERAS_OFFLINE"
KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
MOBILENET_SIZES = (128, 160, 192, 224)
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)


@dataclasses.dataclass(frozen=True)
class BackboneInfo:
    """How to build one keras.applications backbone and where Keras keeps its ImageNet weights."""

    constructor: str  # attribute of keras.applications
    module: str  # keras.applications submodule holding preprocess_input
    input_size: int
    top_file: str  # file names as Keras caches them; {alpha} and {size} are filled in for MobileNets
    notop_file: str
    top_hash: Optional[str] = None  # md5 pinned by Keras (None: Keras pins none)
    notop_hash: Optional[str] = None
    url_dir: str = ""
    alphas: tuple = ()
    default_alpha: Optional[float] = None


BACKBONES = {
    "resnet50": BackboneInfo(
        "ResNet50", "resnet50", 224,
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626", "resnet/"),
    "mobilenet_v2": BackboneInfo(
        "MobileNetV2", "mobilenet_v2", 224,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5",
        None, None, "mobilenet_v2/", (0.35, 0.5, 0.75, 1.0, 1.3, 1.4), 1.0),
    "inception_v3": BackboneInfo(
        "InceptionV3", "inception_v3", 299,
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63", "inception_v3/"),
    "vgg16": BackboneInfo(
        "VGG16", "vgg16", 224,
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc", "vgg16/"),
    "efficientnet_b0": BackboneInfo(
        "EfficientNetB0", "efficientnet", 224, "efficientnetb0.h5", "efficientnetb0_notop.h5",
        "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d", ""),
    "mobilenet": BackboneInfo(
        "MobileNet", "mobilenet", 224, "mobilenet_{alpha}_{size}_tf.h5", "mobilenet_{alpha}_{size}_tf_no_top.h5",
        None, None, "mobilenet/", (0.25, 0.5, 0.75, 1.0), 1.0),
}
DEFAULT = "resnet50"
# Stand-ins tried in the smoke profile, best first (ImageNet top-1 of the Keras weights in brackets).
STAND_INS = (
    ("efficientnet_b0", None),  # 77.1
    ("resnet50", None),  # 74.9
    ("inception_v3", None),  # 77.9 but 299 px and slow on a CPU
    ("mobilenet_v2", 1.0),  # 71.3
    ("mobilenet", 1.0), ("mobilenet", 0.75), ("vgg16", None),
    ("mobilenet_v2", 0.75), ("mobilenet", 0.5), ("mobilenet_v2", 0.5),
    ("mobilenet_v2", 0.35), ("mobilenet", 0.25),  # 50.6
)


@dataclasses.dataclass
class Backbone:
    """A built backbone and the facts a notebook should report about it."""

    model: object
    name: str
    requested: str
    pretrained: bool
    input_size: int
    preprocess: Callable
    weights_path: Optional[str] = None
    note: str = ""
    alpha: Optional[float] = None

    @property
    def label(self):
        """Short name such as "mobilenet_0.25" or "resnet50" for tables and results."""
        return f"{self.name}_{self.alpha:g}" if self.alpha is not None else self.name


def _info(name):
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
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
    """The file names Keras caches this backbone's ImageNet weights under, best match first.

    MobileNets have one file per input size; other sizes fall back to the 224 file (convolution
    weights do not depend on the input size), as Keras itself does.
    """
    info = _info(name)
    alpha = _alpha(name, alpha)
    pattern = info.top_file if include_top else info.notop_file
    if name == "mobilenet":
        sizes, alpha_text = MOBILENET_SIZES, {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    elif name == "mobilenet_v2":
        sizes, alpha_text = MOBILENET_V2_SIZES, str(float(alpha))
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


def verify(path, expected):
    """Raise ValueError naming `path` when its md5 (32 hex) or sha256 (64 hex) differs from `expected`."""
    if not expected:
        return
    algorithm = "md5" if len(expected) == 32 else "sha256"
    actual = data.file_digest(path, algorithm)
    if actual != expected:
        raise ValueError(
            f"{path} does not match the {algorithm} Keras pins for it ({expected}; file has {actual}). "
            "It is truncated or not the Keras ImageNet file: delete it and fetch it again."
        )


def search_places():
    """Folders searched for weight files, in order: the mirror's keras/models, then the Keras cache."""
    from tlkeras import config

    places = []
    mirror = config.mirror_dir()
    if mirror is not None:
        places.append(mirror / "keras" / "models")
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    places.append(pathlib.Path(keras_home) / "models")
    return places


def offline():
    """True when downloads are switched off with TLKERAS_OFFLINE=1."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


_REACHABLE = {}


def _reachable(host="storage.googleapis.com", port=443, timeout=3.0):
    """Whether `host` answers within `timeout` seconds (DNS included, so an offline box fails fast); asked once."""
    import socket

    if host in _REACHABLE:
        return _REACHABLE[host]
    answer = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    _REACHABLE[host] = bool(answer)
    return _REACHABLE[host]


def _download(name, file_name, include_top):
    import keras

    url_dir = _info(name).url_dir
    if name == "efficientnet_b0":
        origin = "https://storage.googleapis.com/keras-applications/" + file_name
    else:
        origin = KERAS_BASE_URL + url_dir + file_name
    try:
        path = keras.utils.get_file(file_name, origin, cache_subdir="models", file_hash=pinned_hash(name, include_top))
        return pathlib.Path(path)
    except Exception as error:  # network, HTTP or hash failure: report and fall back
        print(f"tlkeras: could not download {file_name}: {error.__class__.__name__}: {error}")
        return None


def resolve_weights(name, alpha=None, include_top=False, input_size=None, download=True):
    """Path of a verified ImageNet weight file for this backbone, or None when none can be had.

    Looks in ``$TLKERAS_MIRROR/keras/models``, then ``~/.keras/models`` (``$KERAS_HOME``), then asks
    Keras to download it (skipped when `download` is False, TLKERAS_OFFLINE=1, or the host is
    unreachable). A local file whose hash differs from the one Keras pins raises ValueError.
    """
    names = weight_file_names(name, alpha, include_top, input_size)
    for folder in search_places():
        for file_name in names:
            path = folder / file_name
            if path.is_file():
                verify(path, pinned_hash(name, include_top))
                return path
    if not download or offline() or not _reachable():
        return None
    return _download(name, names[0], include_top)


def _build(name, alpha, input_size, include_top, pooling, weights_path):
    import keras

    info = _info(name)
    kwargs = dict(include_top=include_top, weights=None, input_shape=(input_size, input_size, 3))
    if not include_top:
        kwargs["pooling"] = pooling
    if alpha is not None:
        kwargs["alpha"] = alpha
    if include_top and input_size != info.input_size and name != "mobilenet_v2":
        raise ValueError(f"{name} with its ImageNet top needs input_size={info.input_size}, not {input_size}")
    model = getattr(keras.applications, info.constructor)(**kwargs)
    if weights_path is not None:
        model.load_weights(str(weights_path))
    return model


def preprocess_for(name):
    """The backbone's own `preprocess_input` (takes float images in 0..255)."""
    import keras

    return getattr(keras.applications, _info(name).module).preprocess_input


def _full_error(name, alpha, include_top, input_size):
    names = weight_file_names(name, alpha, include_top, input_size)
    places = "\n".join(f"  - {folder}" for folder in search_places())
    return FileNotFoundError(
        f"ImageNet weights for {name} are not available and the full profile never substitutes another "
        f"backbone.\nLooked for {names[0]} in:\n{places}\nand the Keras download failed or was skipped "
        f"(${OFFLINE_ENV}={os.environ.get(OFFLINE_ENV, '')!r}).\nFix it: go online so keras.applications can "
        f"download it, or copy {names[0]} into ~/.keras/models/ or $TLKERAS_MIRROR/keras/models/, "
        "or run with PROFILE='smoke' to accept a stand-in."
    )


def _stand_in(include_top, input_size):
    for name, alpha in STAND_INS:
        path = resolve_weights(name, alpha, include_top, input_size, download=False)
        if path is not None:
            return name, alpha, path
    return None


def load(name=DEFAULT, profile="smoke", input_size=None, alpha=None, include_top=False, pooling="avg",
         weights="imagenet"):
    """Build backbone `name` with ImageNet weights and return a `Backbone`.

    Args:
        name: a key of `BACKBONES` ("resnet50", "mobilenet_v2", "inception_v3", "vgg16",
            "efficientnet_b0", "mobilenet").
        profile: "smoke" substitutes the best locally available pretrained backbone (with a banner) when
            the requested weights cannot be had; "full" raises FileNotFoundError instead.
        input_size: square input side in pixels (default: the backbone's own).
        alpha: width multiplier for the MobileNets.
        include_top: keep the ImageNet classifier (1,000 classes).
        pooling: "avg", "max" or None for the headless model.
        weights: "imagenet", None (random weights) or a path to a weight file.
    """
    from tlkeras import config

    profile = config.resolve_profile(profile)
    alpha = _alpha(name, alpha)
    size = int(input_size or _info(name).input_size)
    if size < 32:
        raise ValueError(f"input_size must be at least 32 pixels, not {size}")
    if weights is None or (weights != "imagenet"):
        path = None if weights is None else pathlib.Path(weights)
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        model = _build(name, alpha, size, include_top, pooling, path)
        return Backbone(model, name, name, path is not None, size, preprocess_for(name),
                        str(path) if path else None, "", alpha)
    path = resolve_weights(name, alpha, include_top, size)
    used, used_alpha, note = name, alpha, ""
    if path is None:
        if profile == "full":
            raise _full_error(name, alpha, include_top, size)
        found = _stand_in(include_top, size)
        if found is None:
            used, note = name, f"no ImageNet weights for any backbone could be found: {name} has RANDOM weights"
        else:
            used, used_alpha, path = found
            if input_size is None or include_top:  # an ImageNet top only works at its own size
                size = _info(used).input_size
            shown = f"{used} alpha={used_alpha:g}" if used_alpha is not None else used
            note = (f"ImageNet weights for {name} are not available here, so the smoke profile uses {shown} "
                    f"({path.name}) as a stand-in")
        print("=" * 78 + f"\nSTAND-IN BACKBONE: {note}\n" + "=" * 78)
    model = _build(used, used_alpha, size, include_top, pooling, path)
    return Backbone(model, used, name, path is not None, size, preprocess_for(used),
                    str(path) if path else None, note, used_alpha)
