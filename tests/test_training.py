"""Tests for tlkeras.training: per-layer learning rates (rate 0 = frozen) and a fit that resumes after a kill."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tlkeras import training


def _model(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    x = keras.layers.Dense(16, activation="relu", name="bottom")(inputs)
    x = keras.layers.Dense(16, activation="relu", name="middle")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def test_rate_zero_is_bit_identical_and_other_groups_move():
    import keras

    model = _model()
    before = training.snapshot([model.get_layer("bottom")])
    head_before = training.snapshot([model.get_layer("head")])
    optimizer = training.layer_rate_optimizer(keras.optimizers.Adam(1e-2), [(model.get_layer("bottom"), 0.0)])
    model.compile(optimizer, keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(*_data(), epochs=2, batch_size=16, verbose=0)
    assert training.unchanged([model.get_layer("bottom")], before)
    assert not training.unchanged([model.get_layer("head")], head_before)


def test_factors_scale_the_step_exactly_with_sgd():
    import keras

    x, y = _data(16)
    steps = {}
    for factor in (1.0, 0.1):
        model = _model(seed=1)
        start = model.get_layer("middle").get_weights()[0].copy()
        optimizer = training.layer_rate_optimizer(keras.optimizers.SGD(0.05), [([model.get_layer("middle")], factor)])
        model.compile(optimizer, keras.losses.BinaryCrossentropy(from_logits=True))
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
        steps[factor] = model.get_layer("middle").get_weights()[0] - start
    assert np.abs(steps[1.0]).max() > 0
    np.testing.assert_allclose(steps[0.1], 0.1 * steps[1.0], rtol=1e-4, atol=1e-7)


def test_bad_factors_and_weight_decay_are_refused():
    import keras

    model = _model()
    with pytest.raises(ValueError, match=">= 0"):
        training.layer_rate_optimizer(keras.optimizers.Adam(), [(model.layers[1], -1.0)])
    with pytest.raises(ValueError, match="weight decay"):
        training.layer_rate_optimizer(keras.optimizers.AdamW(weight_decay=0.01), [(model.layers[1], 0.0)])


def test_fit_resumable_runs_every_epoch_once_and_cleans_up(tmp_path):
    import keras

    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True))
    x, y = _data()
    history = training.fit_resumable(model, x, (x, y), epochs=3, directory=tmp_path / "run", y=y, batch_size=16)
    assert history["epoch"] == [0, 1, 2] and len(history["val_loss"]) == 3
    assert not (tmp_path / "run" / "backup").exists()
    assert int(model.optimizer.iterations.numpy()) == 3 * 4


CHILD = textwrap.dedent('''
    import os, sys, time
    import numpy as np
    import keras
    from tlkeras import training

    class StallAfterFirstEpoch(keras.callbacks.Callback):
        """Runs after the checkpoint is saved; waits to be killed when asked to."""
        def on_epoch_end(self, epoch, logs=None):
            print(f"EPOCH_DONE {epoch}", flush=True)
            if epoch == 0 and os.environ.get("STALL") == "1":
                time.sleep(600)

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    history = training.fit_resumable(model, x, (x, y), epochs=3, directory=sys.argv[1], y=y, batch_size=16,
                                     callbacks=[StallAfterFirstEpoch()])
    print("EPOCHS", history["epoch"], "ITERATIONS", int(model.optimizer.iterations.numpy()), flush=True)
''')


@pytest.mark.slow
def test_a_run_killed_after_its_first_epoch_resumes_without_losing_or_repeating_epochs(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run_dir = tmp_path / "run"
    env = dict(os.environ, STALL="1", TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.Popen([sys.executable, str(script), str(run_dir)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stdout:
            if line.startswith("EPOCH_DONE 0"):
                break
        child.send_signal(signal.SIGKILL)  # no chance to clean up, like a lost Colab runtime
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert (run_dir / "backup").exists()
    assert [row["epoch"] for row in training.read_epoch_log(run_dir)] == [0]

    env["STALL"] = "0"
    resumed = subprocess.run([sys.executable, str(script), str(run_dir)], capture_output=True, text=True, env=env,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "1 of 3 epochs already done" in resumed.stdout
    assert "EPOCH_DONE 0" not in resumed.stdout  # the finished epoch is not trained again
    assert "EPOCHS [0, 1, 2] ITERATIONS 12" in resumed.stdout  # 3 epochs x 4 steps: none lost, none repeated
    assert not (run_dir / "backup").exists()


def _bn_model(freeze_batchnorm):
    import keras

    keras.utils.set_random_seed(0)
    inner_in = keras.Input((6, 6, 3))
    inner = keras.Model(inner_in, keras.layers.GlobalAveragePooling2D()(
        keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3, name="conv")(inner_in))))
    outer_in = keras.Input((6, 6, 3))
    model = keras.Model(outer_in, keras.layers.Dense(1)(inner(outer_in, training=False)))
    if freeze_batchnorm:
        inner.get_layer("bn").trainable = False
    return model, inner.get_layer("bn")


@pytest.mark.parametrize("freeze_batchnorm", [False, True])
def test_only_frozen_batchnorm_keeps_its_statistics_in_keras3(freeze_batchnorm):
    """Notebook 03 relies on this: fit overrides a nested training=False (keras-team/keras#20285)."""
    import keras

    model, bn = _bn_model(freeze_batchnorm)
    before = bn.moving_mean.numpy().copy()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(3.0, 1.0, size=(16, 6, 6, 3)).astype("float32")
    model.fit(x, np.ones(16), epochs=1, batch_size=4, verbose=0)
    assert np.array_equal(bn.moving_mean.numpy(), before) == freeze_batchnorm
