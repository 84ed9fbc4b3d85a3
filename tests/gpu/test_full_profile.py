"""The GPU check: every notebook in the full profile, and the figures the full profile promises.

Run it on a machine with a GPU and internet (data and weights are downloaded once):

    bash course.sh test tests/gpu -v

It writes the executed notebooks and results to build-full/. Without a GPU it skips with a message, so
CI (CPU only) reports it as skipped. `.github/workflows/gpu-full-profile.yml` is an example runner setup.
"""

import json
import pathlib

import pytest

from tlkeras import config, runner

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "build-full"
# figure recorded by a notebook -> the least the full profile must reach (the notebooks assert the lessons;
# these are the absolute levels a learner on a GPU should see).
FULL_PROFILE_FLOORS = {}


@pytest.fixture(scope="module")
def full_run():
    if not config.gpu_available():
        pytest.skip("no GPU visible: the full-profile check needs one (run it on Colab or a GPU runner)")
    code = runner.run(profile="full", out=str(OUT))
    return code, json.loads((OUT / "results.json").read_text())


def test_every_notebook_runs_in_the_full_profile(full_run):
    code, summary = full_run
    failed = {stem: info["error"] for stem, info in summary["_run"]["notebooks"].items() if info["status"] != "ok"}
    assert code == 0 and failed == {}
    assert summary["_run"]["profile"] == "full"


@pytest.mark.parametrize("key", sorted(FULL_PROFILE_FLOORS))
def test_full_profile_figures(full_run, key):
    _, summary = full_run
    assert key in summary, f"{key} was not recorded"
    assert summary[key] >= FULL_PROFILE_FLOORS[key]


def test_each_notebook_fits_the_full_profile_budget(full_run):
    _, summary = full_run
    slow = {stem: info["seconds"] for stem, info in summary["_run"]["notebooks"].items() if info["seconds"] > 15 * 60}
    assert slow == {}, "each notebook should take at most 15 minutes on one GPU"
