"""tlkeras: small helpers for a notebook course on weight initialization and transfer learning.

Importing the package changes no global state and does not import TensorFlow; submodules load on
first use (``tlk.data``, ``tlk.inits``, ...). Notebooks call ``tlk.setup(seed=...)`` in their Setup cell.
"""

import importlib
import pkgutil

__version__ = "0.3.0"  # the Setup cells install the tag v<__version__> (tests/test_colab.py)

# Every module in this folder is an attribute (tlk.data, tlk.inits, ...), imported on first use.
_SUBMODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def setup(seed=0, **kwargs):
    """Seed every random generator and print what this run uses (see `tlkeras.config.setup`)."""
    from tlkeras import config

    return config.setup(seed=seed, **kwargs)


def record(name, value, **kwargs):
    """Record a measured figure for results.json (see `tlkeras.results.record`)."""
    from tlkeras import results

    return results.record(name, value, **kwargs)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tlkeras.{name}")
    raise AttributeError(f"module 'tlkeras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
