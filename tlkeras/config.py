"""Run configuration: seeding, the profiles (smoke, cpu, full), and where mirrors and caches live.

Introduced in notebook 01 and used by every notebook: the Setup cell calls `setup`, the cell after the
``parameters`` cell calls `choose`.
"""

import os
import pathlib
import random
import types

PROFILES = ("smoke", "cpu", "full")
PROFILE_HELP = {
    "smoke": "CI: the offline mirror, small samples, stand-in backbones allowed, minutes on 2 CPU cores",
    "cpu": "a laptop without a GPU: real data and ImageNet weights (downloaded), capped sizes, <= 15 min per notebook",
    "full": "one GPU (Colab T4 class): full data, the requested backbones, <= 15 min per notebook",
}
PROFILE_ENV = "TLKERAS_PROFILE"
MIRROR_ENV = "TLKERAS_MIRROR"
CACHE_ENV = "TLKERAS_CACHE"


def gpu_names():
    """Names of the GPUs the Keras backend can see (TensorFlow, JAX or PyTorch); empty when there are none."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            devices = tf.config.list_physical_devices("GPU")
            return [tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in devices]
        if backend == "jax":
            import jax

            return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken accelerator stack means: no usable GPU
        return []
    return []


def gpu_available():
    """True when the Keras backend can see a GPU."""
    return bool(gpu_names())


def _normalize(profile, where):
    name = str(profile).strip().lower()
    if name not in PROFILES + ("auto",):
        raise ValueError(f"Unknown profile {profile!r} ({where}); expected one of {', '.join(PROFILES)} or 'auto'.")
    return name


def explain_profile(profile="auto"):
    """Return (profile, why): the profile that runs and the reason it was chosen.

    An explicit `profile` ("smoke", "cpu", "full"), including one injected into a notebook's parameters
    cell, always wins. ``"auto"`` consults ``$TLKERAS_PROFILE`` (the runner and the test suite set it),
    then picks "full" when a GPU is visible, "smoke" when the offline mirror ``$TLKERAS_MIRROR`` is set,
    and "cpu" otherwise.
    """
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
    """The profile name that `profile` resolves to (see `explain_profile`)."""
    return explain_profile(profile)[0]


def choose(profile, smoke, full, cpu=None, verbose=True):
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
    if verbose:
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


def setup(seed=0, deterministic=True, verbose=True):
    """Seed Python, NumPy and Keras once, and print a one-line banner (versions, GPU, mirror).

    Call it once, in a notebook's Setup cell. With ``deterministic=True`` TensorFlow uses deterministic
    kernels, so the same seed gives the same numbers on the same machine.
    Returns a dict describing the run.
    """
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    gpus = gpu_names()
    info = {
        "seed": seed,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "gpu": gpus[0] if gpus else None,
        "mirror": str(mirror_dir()) if mirror_dir() else None,
    }
    if verbose:
        print(
            f"tlkeras: seed={seed} keras={info['keras']} backend={info['backend']} "
            f"GPU: {info['gpu'] or 'none (CPU only)'}; mirror: {info['mirror'] or 'none (data and weights are downloaded)'}"
        )
    return info
