"""Named measured figures: notebooks record them, the course runner gathers them into results.json."""

import json
import math
import numbers
import os
import pathlib

from tlkeras import cache

RESULTS_ENV = "TLKERAS_RESULTS"
_recorded = {}


def _plain(value):
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / tensor scalars
        value = value.item()
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"refusing to record a non-finite value: {value!r}")
        return float(value)
    raise ValueError(f"record() takes a number, bool or string, not {type(value).__name__}")


def record(name, value, verbose=True):
    """Record `value` under `name` (e.g. "test_accuracy/he_normal") and return it unchanged. When the runner
    sets ``$TLKERAS_RESULTS``, the figure goes into that JSON file at once: a later failing cell loses nothing."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a result needs a non-empty string name such as 'test_accuracy/he_normal'")
    plain = _plain(value)
    _recorded[name] = plain
    path = os.environ.get(RESULTS_ENV)
    if path:
        path = pathlib.Path(path)
        stored = {**(json.loads(path.read_text()) if path.exists() else {}), name: plain}
        cache.atomic_write(path, lambda temporary: pathlib.Path(temporary).write_text(json.dumps(stored, indent=2)))
    if verbose:
        shown = f"{plain:.4f}" if isinstance(plain, float) else plain
        print(f"recorded {name} = {shown}")
    return value


def recorded():
    """All figures recorded in this process so far, as a dict."""
    return dict(_recorded)
