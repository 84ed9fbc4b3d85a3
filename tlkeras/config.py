"""Run configuration: seeding, the smoke/full profile, and where data, mirrors and caches live."""
import os
import pathlib
import random
import types

PROFILES = ("smoke", "full", "auto")
PROFILE_ENV = "TLKERAS_PROFILE"
MIRROR_ENV = "TLKERAS_MIRROR"
CACHE_ENV = "TLKERAS_CACHE"


def gpu_available():
    """True when the Keras backend can see a GPU (TensorFlow, JAX or PyTorch)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(device.platform == "gpu" for device in jax.devices())
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # a broken accelerator stack means: no usable GPU
        return False
    return False


def resolve_profile(profile="auto"):
    """Return "smoke" or "full".

    The environment variable ``TLKERAS_PROFILE`` (set by the course runner and the test suite) wins
    over the notebook's parameter cell; ``"auto"`` means ``"full"`` when a GPU is visible, else ``"smoke"``.
    """
    chosen = os.environ.get(PROFILE_ENV) or profile
    chosen = str(chosen).strip().lower()
    if chosen not in PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r}; expected one of {', '.join(PROFILES)} "
            f"(check the notebook's PROFILE parameter and ${PROFILE_ENV})."
        )
    if chosen == "auto":
        chosen = "full" if gpu_available() else "smoke"
    return chosen


def choose(profile, smoke, full):
    """Pick the parameter set for `profile` ("smoke", "full" or "auto") as an attribute namespace.

    Both dicts must have the same keys, so a notebook cannot silently miss a setting in one profile.
    """
    if set(smoke) != set(full):
        raise ValueError(f"smoke and full parameters differ in keys: {sorted(set(smoke) ^ set(full))}")
    name = resolve_profile(profile)
    values = dict(smoke if name == "smoke" else full)
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
    """Seed Python, NumPy and Keras, quieten TensorFlow, and print a one-line run banner.

    Call it once in a notebook's Setup cell. With ``deterministic=True`` TensorFlow uses
    deterministic kernels, so the same seed gives the same numbers on the same machine.
    Returns a dict describing the run (seed, backend, versions, GPU, mirror).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    info = {
        "seed": seed,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "gpu": gpu_available(),
        "mirror": str(mirror_dir()) if mirror_dir() else None,
        "profile_env": os.environ.get(PROFILE_ENV),
    }
    if verbose:
        print(
            f"tlkeras: seed={seed} keras={info['keras']} backend={info['backend']} "
            f"gpu={info['gpu']} mirror={info['mirror'] or '(none: online downloads)'}"
        )
    return info
