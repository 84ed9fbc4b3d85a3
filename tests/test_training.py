"""Tests for tlkeras.training: per-layer rates (rate 0 = frozen twin), a fit that resumes after a kill, BN, resets,
timers and weight snapshots."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

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


def _train_twin(freeze_bottom):
    """Train `_model()` for two epochs; the bottom layer gets rate 0 or trainable=False, the middle rate 0.1."""
    import keras

    model = _model()
    bottom, middle = model.get_layer("bottom"), model.get_layer("middle")
    if freeze_bottom:
        bottom.trainable = False
        groups = [(middle, 0.1)]
    else:
        groups = [(bottom, 0.0), (middle, 0.1)]
    optimizer = training.layer_rate_optimizer(keras.optimizers.Adam(1e-2), groups)
    model.compile(optimizer, keras.losses.BinaryCrossentropy(from_logits=True), jit_compile=False)
    model.fit(*_data(), epochs=2, batch_size=16, shuffle=False, verbose=0)
    return model


def test_rate_zero_trains_exactly_like_a_frozen_twin():
    """Freezing = learning rate 0: same batches, same start, and every weight ends bit-identical (notebook 03)."""
    start = _model().get_weights()
    rate_zero, frozen = _train_twin(freeze_bottom=False), _train_twin(freeze_bottom=True)
    for a, b in zip(rate_zero.get_weights(), frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    moved = [not np.array_equal(a, b) for a, b in zip(rate_zero.get_weights(), start)]
    assert moved == [False, False, True, True, True, True]  # bottom kernel and bias stay; middle and head move


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
                                     callbacks=[StallAfterFirstEpoch()], verbose=0)
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
            if "EPOCH_DONE 0" in line:  # a progress bar could share the line
                break
        child.send_signal(signal.SIGKILL)  # no chance to clean up, like a lost Colab runtime
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert (run_dir / "backup").exists()
    logged = (run_dir / training.EPOCH_LOG).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in logged] == [0]

    env["STALL"] = "0"
    resumed = subprocess.run(
        [sys.executable, str(script), str(run_dir)], capture_output=True, text=True, env=env, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "1 of 3 epochs already done" in resumed.stdout
    assert "EPOCH_DONE 0" not in resumed.stdout  # the finished epoch is not trained again
    assert "EPOCHS [0, 1, 2] ITERATIONS 12" in resumed.stdout  # 3 epochs x 4 steps: none lost, none repeated
    assert not (run_dir / "backup").exists()


def _bn_model(freeze_batchnorm):
    import keras

    keras.utils.set_random_seed(0)
    inner_in = keras.Input((6, 6, 3))
    inner = keras.Model(
        inner_in,
        keras.layers.GlobalAveragePooling2D()(
            keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3, name="conv")(inner_in))
        ),
    )
    outer_in = keras.Input((6, 6, 3))
    model = keras.Model(outer_in, keras.layers.Dense(1)(inner(outer_in, training=False)))
    if freeze_batchnorm:
        inner.get_layer("bn").trainable = False
    return model, inner.get_layer("bn")


KERAS_3_15_OR_OLDER = tuple(int(part) for part in __import__("keras").__version__.split(".")[:2]) <= (3, 15)


@pytest.mark.parametrize("freeze_batchnorm", [False, True])
def test_frozen_batchnorm_keeps_its_statistics_and_fit_overrides_training_false_up_to_keras_3_15(freeze_batchnorm):
    """Notebook 03: a frozen BN layer never moves (every version); fit overrides a nested training=False on
    Keras 3.0-3.15 (keras-team/keras#20285), reported reversed after 3.15.1 (keras-team/keras#23364)."""
    import keras

    model, bn = _bn_model(freeze_batchnorm)
    before = bn.moving_mean.numpy().copy()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(3.0, 1.0, size=(16, 6, 6, 3)).astype("float32")
    model.fit(x, np.ones(16), epochs=1, batch_size=4, verbose=0)
    moved = not np.array_equal(bn.moving_mean.numpy(), before)
    if freeze_batchnorm:
        assert not moved
    elif KERAS_3_15_OR_OLDER:
        assert moved
    else:
        pytest.skip(f"keras {keras.__version__}: fit {'overrides' if moved else 'keeps'} the nested training=False")


def _bn_net():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def test_recalibrate_batchnorm_matches_input_statistics():
    import keras

    model = _bn_net()
    images = np.random.default_rng(0).normal(2.0, 3.0, (40, 8, 8, 3)).astype("float32")
    training.recalibrate_batchnorm(model, [images[:16], (images[16:32], None), images[32:]])  # any batch sizes
    conv_out = keras.Model(model.input, model.get_layer("conv").output).predict(images, verbose=0)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), conv_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), conv_out.var(axis=(0, 1, 2)), rtol=1e-3)


def test_reset_optimizer_makes_a_second_run_identical_and_a_stale_one_differs():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x, y = np.random.default_rng(0).random((64, 4)), np.random.default_rng(1).random((64, 2))
    start = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first = model.get_weights()
    model.set_weights(start)  # without a reset, Adam's moments from the first run carry over
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert not all(np.allclose(a, b) for a, b in zip(first, model.get_weights()))
    model.set_weights(start)
    training.reset_optimizer(model.optimizer)
    assert int(model.optimizer.iterations) == 0 and float(model.optimizer.learning_rate) == pytest.approx(1e-2)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(first, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_rate_zero_is_not_freezing_for_batchnorm():
    """The scope of "freezing = learning rate 0" (notebook 03): a BN layer given rate 0 still normalises with
    batch statistics and updates its moving averages during fit; a frozen one (trainable=False) does neither."""
    import keras

    moved = {}
    for frozen in (False, True):
        model = _bn_net()
        bn = model.get_layer("bn")
        before = bn.moving_mean.numpy().copy()
        if frozen:
            bn.trainable = False
            groups = []
        else:
            groups = [(bn, 0.0)]
        optimizer = training.layer_rate_optimizer(keras.optimizers.Adam(1e-2), groups)
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        images = np.random.default_rng(0).normal(2.0, 3.0, (32, 8, 8, 3)).astype("float32")
        model.fit(images, np.arange(32) % 2, epochs=1, batch_size=8, verbose=0)
        moved[frozen] = not np.array_equal(bn.moving_mean.numpy(), before)
        assert np.array_equal(bn.gamma.numpy(), np.ones(16))  # rate 0 or frozen: the learned scale never moves
    assert moved == {False: True, True: False}


def test_snapshot_is_a_copy_and_unchanged_notices_the_smallest_change():
    model = _model()
    layers = [model.get_layer("bottom"), model.get_layer("head")]
    before = training.snapshot(layers)
    assert training.unchanged(layers, before)
    kernel, bias = layers[1].get_weights()
    kernel[0, 0] = np.nextafter(kernel[0, 0], np.float32(np.inf))  # one float step on one weight
    layers[1].set_weights([kernel, bias])
    assert not training.unchanged(layers, before)
    assert not np.array_equal(before[1][0], kernel)  # the snapshot kept the old value
    assert training.unchanged(layers[:1], before[:1])


def test_epoch_timer_times_every_epoch_and_prints_a_line_per_epoch_with_a_label(capsys):
    import keras

    class SlowSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                time.sleep(0.3)

    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True))
    labelled, quiet = training.epoch_timer("demo"), training.epoch_timer()
    # the timers' epoch starts run before the slow callback's: both count its 0.3 s in epoch 2
    model.fit(*_data(), epochs=3, batch_size=16, verbose=0, callbacks=[labelled, quiet, SlowSecondEpoch()])
    for timer in (labelled, quiet):
        assert len(timer.seconds) == 3 and timer.seconds[1] >= 0.3 > timer.seconds[2]
        assert timer.steady == pytest.approx((timer.seconds[1] + timer.seconds[2]) / 2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["demo epoch 1/3", "demo epoch 2/3", "demo epoch 3/3"]
    assert "loss" in lines[0] and lines[0].endswith(" s)")


def test_epoch_timer_reads_the_clock_it_is_given():
    ticks = iter([0.0, 2.5, 10.0, 11.0])  # epoch 1 from 0 to 2.5, epoch 2 from 10 to 11
    timer = training.epoch_timer(clock=lambda: next(ticks))
    timer.on_train_begin()
    for epoch in range(2):
        timer.on_epoch_begin(epoch)
        timer.on_epoch_end(epoch)
    assert timer.seconds == [2.5, 1.0]
