import subprocess
import sys

import pytest

from tlkeras import config


def test_env_profile_wins_over_notebook_value(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    assert config.resolve_profile("smoke") == "full"


def test_auto_without_gpu_is_smoke(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.resolve_profile("auto") == "smoke"
    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert config.resolve_profile("auto") == "full"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match="smoke, full, auto"):
        config.resolve_profile("fast")


def test_choose_picks_the_profile_and_checks_keys(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "smoke")
    params = config.choose("auto", smoke=dict(epochs=1), full=dict(epochs=30))
    assert (params.profile, params.epochs) == ("smoke", 1)
    with pytest.raises(ValueError, match="differ in keys"):
        config.choose("smoke", smoke=dict(epochs=1), full=dict(epochs=30, size=5))


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    assert config.cache_dir("a", "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


def test_import_has_no_side_effects():
    code = ("import os, random, sys; state = random.getstate(); import tlkeras; "
            "assert random.getstate() == state; assert 'tensorflow' not in sys.modules; "
            "assert 'keras' not in sys.modules; print('clean')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "clean", result.stderr


@pytest.mark.slow
def test_setup_makes_runs_repeatable():
    import keras
    import numpy as np

    def draw():
        config.setup(seed=7, verbose=False)
        return np.random.rand(), keras.random.normal((3,)).numpy().tolist()

    assert draw() == draw()
