"""Test-session defaults: notebooks run in the smoke profile and read the offline mirror beside the repo."""

import os
import pathlib

import pytest

os.environ.setdefault("TLKERAS_PROFILE", "smoke")
_mirror = pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"
if "TLKERAS_MIRROR" not in os.environ and _mirror.is_dir():
    os.environ["TLKERAS_MIRROR"] = str(_mirror)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only a browser test that will run stands in for nbval
def pytest_collection_modifyitems(config, items):
    """Run the notebooks first, longest first (their `minutes` for this profile), then the unit tests.

    With two xdist workers (`bash course.sh test`, which passes --no-loadscope-reorder so this order is kept)
    the long notebooks start at once and the many short tests fill in at the end, instead of the longest
    notebook starting last and running alone. Cells keep their order: the sort is stable and per file. A test
    module that runs notebooks itself (the browser test) sets ``SUITE_MINUTES`` and is ordered among them.
    """
    from tlkeras import doctor

    profile = os.environ.get("TLKERAS_PROFILE", "smoke")
    minutes = {}
    for path in {item.path for item in items if item.path.suffix == ".ipynb"}:
        try:
            minutes[path] = float(doctor.notebook_settings(path)[0].get(profile, {}).get("minutes") or 0)
        except (OSError, ValueError, TypeError):
            minutes[path] = 0.0
    for item in items:  # a test file that runs notebooks itself (tests/browser) states its minutes as SUITE_MINUTES
        module = getattr(item, "module", None)
        if item.path not in minutes and getattr(module, "SUITE_MINUTES", None) is not None:
            minutes[item.path] = float(module.SUITE_MINUTES)
    _browser_stands_in_for_nbval(config, items)
    items.sort(key=lambda item: -minutes.get(item.path, -1.0))  # unit tests (-1 -> 1) after every notebook


def _browser_stands_in_for_nbval(config, items):
    """Run a notebook once, not twice: when the browser test (tests/browser) is collected and can run, it executes
    notebooks 01 and 02 cell by cell in JupyterLab and fails on any error output, as nbval-lax does, so their nbval
    items are dropped. Without Chromium or Playwright the browser test skips and nbval runs them as before."""
    browser = [item for item in items if item.get_closest_marker("browser") and hasattr(item.module, "can_run")]
    if not browser or not browser[0].module.can_run():
        return
    names = set(browser[0].module.NOTEBOOKS)
    dropped = [item for item in items if item.path.suffix == ".ipynb" and item.path.name in names]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
