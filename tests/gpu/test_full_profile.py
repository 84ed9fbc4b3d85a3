"""The GPU check: every notebook in the full profile, and what the full profile promises.

Run it on a machine with a GPU and internet (data and weights are downloaded once):

    bash course.sh test tests/gpu -v

It writes the executed notebooks and results to build-full/. Without a GPU it skips with a message, so CI (CPU
only) reports it as skipped; with ``TLKERAS_REQUIRE_GPU=1`` (set by `.github/workflows/gpu-full-profile.yml`) a
missing GPU fails instead, so a runner whose CUDA stack is broken cannot pass by skipping.
"""

import json
import os
import pathlib

import pytest

from tlkeras import config, doctor, runner

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "build-full"
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
# What the full profile promises (README, "profiles"): the full data sets and the requested ImageNet backbones,
# never a stand-in. recorded figure -> the value it must have
FULL_DATA_AND_WEIGHTS = {
    "fe/pretrained": True,
    "ft/pretrained": True,
    "skin/pretrained": True,
    "skin/images": 10_015,  # HAM10000
}
CATS_VS_DOGS = 23_262  # tensorflow-datasets' cats_vs_dogs after it skips 1,738 corrupt files


@pytest.fixture(scope="module")
def full_run():
    if not config.gpu_available():
        message = "no GPU visible: the full-profile check needs one (run it on Colab or a GPU runner)"
        if os.environ.get("TLKERAS_REQUIRE_GPU") == "1":
            pytest.fail(message + "; TLKERAS_REQUIRE_GPU=1 (is TensorFlow's CUDA build installed?)")
        pytest.skip(message)
    code = runner.run(profile="full", out=str(OUT))
    return code, json.loads((OUT / "results.json").read_text())


def test_every_notebook_runs_in_the_full_profile(full_run):
    code, summary = full_run
    failed = {stem: info["error"] for stem, info in summary["_run"]["notebooks"].items() if info["status"] != "ok"}
    assert code == 0 and failed == {}
    assert summary["_run"]["profile"] == "full" and len(summary["_run"]["notebooks"]) == len(NOTEBOOKS)


@pytest.mark.parametrize("key", sorted(FULL_DATA_AND_WEIGHTS))
def test_full_data_and_requested_weights(full_run, key):
    _, summary = full_run
    assert summary.get(key) == FULL_DATA_AND_WEIGHTS[key], f"{key}: {summary.get(key)!r}"


def test_cats_vs_dogs_is_the_whole_data_set(full_run):
    _, summary = full_run
    for prefix in ("fe", "ft"):
        assert summary[f"{prefix}/n_train"] + summary[f"{prefix}/n_val"] == CATS_VS_DOGS, prefix


def test_initialization_reaches_the_accuracy_its_settings_promise(full_run):
    _, summary = full_run
    floor = doctor.notebook_settings(NOTEBOOKS["01"])[0]["full"]["min_accuracy"]
    assert summary["test_accuracy/he_normal"] >= floor


def test_each_notebook_fits_the_full_profile_budget(full_run):
    _, summary = full_run
    slow = {stem: info["seconds"] for stem, info in summary["_run"]["notebooks"].items() if info["seconds"] > 15 * 60}
    assert slow == {}, "each notebook should take at most 15 minutes on one GPU"
