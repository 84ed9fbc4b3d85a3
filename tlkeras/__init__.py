"""tlkeras: small helpers for a notebook course on weight initialization and transfer learning.

``import tlkeras as tlk`` imports every module the notebooks use (``tlk.data``, ``tlk.inits``, ...), and with
them Keras and TensorFlow; it seeds nothing: notebooks call ``tlk.setup(seed=...)`` in their Setup cell.
The command line's modules (``tlkeras.runner``, ``tlkeras.doctor``) need the [lab] extra and are imported
by ``python -m tlkeras``.
"""

from tlkeras import (  # noqa: F401  (the modules are the package's attributes: tlk.data, tlk.inits, ...)
    backbones,
    cache,
    config,
    data,
    diagnostics,
    experiments,
    ham10000,
    images,
    inits,
    metrics,
    models,
    plots,
    pretraining,
    results,
    sampling,
    training,
)
from tlkeras.config import setup  # noqa: F401
from tlkeras.results import record  # noqa: F401

__version__ = "0.4.0"  # the Setup cells install the tag v<__version__> (tests/test_colab.py)
