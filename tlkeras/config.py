"""Run configuration: seeding, the profiles (smoke, cpu, full), and where mirrors and caches live.

Introduced in notebook 01 and used by every notebook: the Setup cell calls `setup`, the cell after the
``parameters`` cell calls `choose`.
"""

import os
import pathlib
import types

PROFILES = ("smoke", "cpu", "full")
PROFILE_HELP = {  # the one wording of the profiles: printed by `choose`, and the command line's --profile help
    "smoke": "CI: the offline mirror, small samples, stand-in backbones allowed, minutes on 2 CPU cores",
    "cpu": "a laptop without a GPU: real data and ImageNet weights (downloaded), capped sizes, <= 15 min per notebook",
    "full": "one GPU (Colab T4 class): full data, the requested backbones, <= 15 min per notebook",
}
STAND_IN = "mobilenet_0.25"  # the smoke profile's stand-in backbone: the only ImageNet weights in the offline mirror
PROFILE_ENV = "TLKERAS_PROFILE"
MIRROR_ENV = "TLKERAS_MIRROR"
CACHE_ENV = "TLKERAS_CACHE"
OFFLINE_ENV = "TLKERAS_OFFLINE"  # set to 1: no loader downloads anything


def gpu_names():
    """Names of the GPUs TensorFlow can see; empty when there are none (or the accelerator stack is broken)."""
    import tensorflow as tf

    try:
        devices = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in devices]
    except Exception:  # a broken accelerator stack means: no usable GPU
        return []


def gpu_available():
    return bool(gpu_names())


def _normalize(profile, where):
    name = str(profile).strip().lower()
    if name not in PROFILES + ("auto",):
        raise ValueError(f"Unknown profile {profile!r} ({where}); expected one of {', '.join(PROFILES)} or 'auto'.")
    return name


def explain_profile(profile="auto"):
    """(profile, why). An explicit `profile`, such as one injected into a notebook's parameters cell, wins;
    ``"auto"`` takes ``$TLKERAS_PROFILE`` (set by the runner and the tests), else "full" when a GPU is visible,
    else "smoke" when the offline mirror ``$TLKERAS_MIRROR`` is set, else "cpu"."""
    name = _normalize(profile, "the PROFILE argument")
    if name != "auto":
        return name, "set explicitly"
    env = os.environ.get(PROFILE_ENV, "").strip()
    if env and _normalize(env, f"${PROFILE_ENV}") != "auto":
        return env.lower(), f"auto: ${PROFILE_ENV}={env}"
    gpus = gpu_names()
    if gpus:
        return "full", f"auto: GPU found ({gpus[0]})"
    if mirror_dir() is not None:
        return "smoke", f"auto: no GPU, offline mirror ${MIRROR_ENV}={mirror_dir()}"
    return "cpu", "auto: no GPU and no offline mirror"


def resolve_profile(profile="auto"):
    return explain_profile(profile)[0]


def choose(profile, smoke, full, cpu=None):
    """Pick the settings for `profile` as an attribute namespace (``P.batch_size``, ``P.profile``).

    `smoke`, `cpu` and `full` are dicts with the same keys, so a notebook cannot silently miss a setting
    in one profile; `cpu` defaults to the smoke sizes. Prints which profile runs and why.
    """
    cpu = dict(smoke) if cpu is None else cpu
    for label, values in (("cpu", cpu), ("full", full)):
        if set(values) != set(smoke):
            raise ValueError(f"smoke and {label} settings differ in keys: {sorted(set(smoke) ^ set(values))}")
    name, why = explain_profile(profile)
    values = {"smoke": smoke, "cpu": cpu, "full": full}[name]
    print(f"profile: {name} ({why}): {PROFILE_HELP[name]}")
    return types.SimpleNamespace(profile=name, **values)


def mirror_dir():
    """The offline mirror named by ``$TLKERAS_MIRROR``, or None when it is unset."""
    value = os.environ.get(MIRROR_ENV)
    return pathlib.Path(value).expanduser() if value else None


def cache_dir(*parts):
    """A writable cache folder (``$TLKERAS_CACHE``, else ``data/cache`` in a checkout, else ~/.cache/tlkeras)."""
    if os.environ.get(CACHE_ENV):
        root = pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    else:
        checkout = pathlib.Path(__file__).resolve().parent.parent
        if (checkout / "pyproject.toml").exists() and os.access(checkout, os.W_OK):
            root = checkout / "data" / "cache"
        else:
            root = pathlib.Path.home() / ".cache" / "tlkeras"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup(seed=0, verbose=True):
    """Seed Python, NumPy, TensorFlow and Keras, turn on TensorFlow's deterministic kernels (the same seed gives
    the same numbers on the same machine), and print a one-line banner. Called in every notebook's Setup cell."""
    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state

    keras.utils.set_random_seed(seed)
    # keras.random calls without a seed draw from one global SeedGenerator, made on first use. Keras 3.13 drops it
    # in set_random_seed; 3.10-3.12 keep it, so a second setup would continue its draws: drop it here as well.
    global_state.set_global_attribute("global_seed_generator", None)
    tf.config.experimental.enable_op_determinism()
    if verbose:
        gpus, mirror = gpu_names(), mirror_dir()
        print(
            f"tlkeras: seed={seed} keras={keras.__version__} backend={keras.backend.backend()} "
            f"GPU: {gpus[0] if gpus else 'none (CPU only)'}; mirror: {mirror or 'none (data and weights are downloaded)'}"
        )


def use_drive(keep=True, folder="/content/drive/MyDrive/tlkeras", mount=None):
    """On Colab with `keep`, mount Google Drive and keep downloads and caches in `folder`, so a new session reuses them.

    Sets ``$KERAS_HOME`` (data sets and ImageNet weights), ``$TFDS_DATA_DIR`` (cats vs dogs from tfds) and
    ``$TLKERAS_CACHE`` (features, resized images) below `folder`; call it before loading anything (the notebooks'
    settings cell does, with their ``KEEP_ON_DRIVE`` parameter). Outside Colab, or with ``keep=False``, it changes
    nothing. Returns the folder in use, or None.
    """
    if not keep:
        return None
    if mount is None:
        try:
            from google.colab import drive
        except ImportError:
            print("KEEP_ON_DRIVE only applies on Colab; here the usual caches are used")
            return None
        mount = drive.mount
    mount("/content/drive")  # asks for permission once per session; `folder` must lie below it
    root = pathlib.Path(folder)
    for variable, sub in (("KERAS_HOME", "keras"), ("TFDS_DATA_DIR", "tensorflow_datasets"), (CACHE_ENV, "cache")):
        os.environ[variable] = str(root / sub)
        (root / sub).mkdir(parents=True, exist_ok=True)
    print(f"downloads and caches are kept on Google Drive in {root} (they count against your Drive quota)")
    return root
