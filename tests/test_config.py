import subprocess
import sys

import pytest

from tlkeras import config


@pytest.fixture
def no_env(isolated, monkeypatch):
    """The isolated machine of tests/conftest.py, without a GPU."""
    monkeypatch.setattr(config, "gpu_names", lambda: [])
    return monkeypatch


def test_explicit_profile_beats_the_environment(no_env):
    no_env.setenv(config.PROFILE_ENV, "full")
    assert config.explain_profile("smoke") == ("smoke", "set explicitly")
    assert config.resolve_profile("auto") == "full"  # auto consults the environment first


def test_auto_order_env_gpu_mirror_cpu(no_env, tmp_path):
    assert config.explain_profile("auto") == ("cpu", "auto: no GPU and no offline mirror")
    no_env.setenv(config.MIRROR_ENV, str(tmp_path))
    assert config.resolve_profile("auto") == "smoke"
    no_env.setattr(config, "gpu_names", lambda: ["Tesla T4"])
    assert config.explain_profile("auto") == ("full", "auto: GPU found (Tesla T4)")
    no_env.setenv(config.PROFILE_ENV, "cpu")
    assert config.resolve_profile("auto") == "cpu"
    no_env.setenv(config.PROFILE_ENV, "auto")  # an env value of "auto" defers to the machine
    assert config.resolve_profile("AUTO") == "full"


def test_unknown_profile_is_a_clear_error(no_env):
    with pytest.raises(ValueError, match="smoke, cpu, full or 'auto'"):
        config.resolve_profile("fast")
    no_env.setenv(config.PROFILE_ENV, "turbo")
    with pytest.raises(ValueError, match=r"\$TLKERAS_PROFILE"):
        config.resolve_profile("auto")


def test_choose_picks_the_profile_and_checks_keys(no_env, capsys):
    params = config.choose("full", smoke=dict(epochs=1), cpu=dict(epochs=3), full=dict(epochs=30))
    assert (params.profile, params.epochs) == ("full", 30)
    assert "profile: full (set explicitly)" in capsys.readouterr().out
    assert config.choose("cpu", smoke=dict(epochs=1), full=dict(epochs=30)).epochs == 1  # cpu = smoke
    assert config.choose("cpu", smoke=dict(epochs=1), cpu=dict(epochs=3), full=dict(epochs=30)).epochs == 3
    with pytest.raises(ValueError, match="smoke and full settings differ in keys: \\['size'\\]"):
        config.choose("smoke", smoke=dict(epochs=1), full=dict(epochs=30, size=5))
    with pytest.raises(ValueError, match="smoke and cpu"):
        config.choose("smoke", smoke=dict(epochs=1), cpu=dict(), full=dict(epochs=30))


def test_cache_dir_honours_env(isolated):
    assert config.cache_dir("a", "b") == isolated / "cache" / "a" / "b"
    assert (isolated / "cache" / "a" / "b").is_dir()


def test_import_seeds_and_sets_nothing():
    """``import tlkeras`` imports Keras and TensorFlow (whose own import sets a few variables and may draw random
    numbers), but adds nothing of its own: no seed, no random draw, no environment variable."""
    code = (
        "import os, random, numpy as np, keras, tensorflow; state = random.getstate(); "
        "draws = np.random.get_state()[1].copy(); env = dict(os.environ); import tlkeras; "
        "assert random.getstate() == state and (np.random.get_state()[1] == draws).all() and dict(os.environ) == env; "
        "print('clean')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "clean", result.stderr


@pytest.mark.slow
def test_setup_makes_runs_repeatable():
    import keras
    import numpy as np

    def draw():  # NumPy, keras.random without a seed (Keras' global SeedGenerator) and a new layer's own generator
        config.setup(seed=7, verbose=False)
        dropped = keras.layers.Dropout(0.5)(np.ones((1, 8)), training=True)
        return np.random.rand(), keras.random.normal((3,)).numpy().tolist(), dropped.numpy().tolist()

    first, second = draw(), draw()
    assert first == second
    config.setup(seed=8, verbose=False)
    assert np.random.rand() != first[0]
