"""Training helpers: a fit that survives interruption, per-layer-group learning rates, epoch timer, resets.

The notebooks call `model.compile` and `model.fit` themselves; these helpers only wrap what is repeated.
"""

import json
import pathlib
import shutil
import time

import keras
import numpy as np

EPOCH_LOG = "epochs.jsonl"


def _read_epoch_log(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def fit_resumable(model, train, validation_data, epochs, directory, callbacks=(), fresh=False, **fit_kwargs):
    """`model.fit` checkpointed after every epoch in `directory` (`keras.callbacks.BackupAndRestore`): rerun the
    same call after an interruption (a Colab disconnect) and it resumes, no epoch lost or repeated. Notebook 03.

    A run that finishes deletes its backup; `fresh=True` discards an old one. Other keyword arguments go to
    `model.fit`. Returns the history of all epochs of the run (including those before an interruption) as a dict.
    """
    directory = pathlib.Path(directory)
    backup, log = directory / "backup", directory / EPOCH_LOG
    if fresh and backup.exists():
        shutil.rmtree(backup)
    meta = backup / "training_metadata.json"
    done = json.loads(meta.read_text())["epoch"] if meta.exists() else 0
    rows = _read_epoch_log(log)[:done]  # a kill between saving and logging must not repeat an epoch
    directory.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    if done:
        print(f"resuming from {backup}: {done} of {epochs} epochs already done")

    def append_to_log(epoch, logs):  # runs after BackupAndRestore has saved the epoch
        with open(log, "a") as handle:
            handle.write(json.dumps({"epoch": int(epoch), **{k: float(v) for k, v in logs.items()}}) + "\n")

    restore = keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True)
    callbacks = [restore, keras.callbacks.LambdaCallback(on_epoch_end=append_to_log), *callbacks]
    model.fit(train, validation_data=validation_data, epochs=epochs, callbacks=callbacks, **fit_kwargs)
    history = {}
    for row in _read_epoch_log(log):
        for key, value in row.items():
            history.setdefault(key, []).append(value)
    return history


def layer_rate_optimizer(optimizer, groups):
    """A copy of `optimizer` (its config) where each group of layers learns at `factor` x the base rate. Notebook 03.

    `groups` is a list of (layers, factor) pairs; a factor of 0 leaves those weights bit-identical, as
    ``trainable = False`` would. Variables in no group (usually the new head) learn at the base rate.
    """
    if getattr(optimizer, "weight_decay", None):
        raise ValueError("weight decay would still move a group with factor 0; use an optimizer without it")
    factors = {}
    for layers, factor in groups:
        if factor < 0:
            raise ValueError(f"learning-rate factors must be >= 0, not {factor}")
        for layer in layers if isinstance(layers, (list, tuple)) else [layers]:
            factors.update({variable.path: float(factor) for variable in layer.trainable_weights})
    base = type(optimizer)

    class LayerRateOptimizer(base):
        def build(self, variables):
            super().build(variables)
            self._factors = [factors.get(v.path, 1.0) for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            factor = self._factors[self._get_variable_index(variable)]
            if factor == 0.0:
                return  # no update at all, so the weights stay bit-identical
            super().update_step(gradient, variable, learning_rate * factor)

    LayerRateOptimizer.__name__ = f"LayerRate{base.__name__}"
    return LayerRateOptimizer.from_config(optimizer.get_config())


def snapshot(layers):
    """Copies of the weights of `layers` (a list), to check later which ones changed. Notebook 03."""
    return [[w.copy() for w in layer.get_weights()] for layer in layers]


def unchanged(layers, before):
    """True when every weight of `layers` is bit-identical to `before` (a `snapshot`)."""
    return all(np.array_equal(a, b) for layer, old in zip(layers, before) for a, b in zip(layer.get_weights(), old))


def epoch_timer(label=None, clock=time.perf_counter):
    """A Keras callback whose `.seconds` lists each epoch's seconds (validation included) by `clock`. Notebook 02.

    ``clock=time.process_time`` counts this process's CPU seconds, which other programs' load does not inflate.
    With a `label` it also prints one line per epoch: the label, the epoch, its metrics and seconds.
    """

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = clock()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(clock() - self._start)
            if label is not None:
                shown = ", ".join(f"{key} {float(value):.4g}" for key, value in (logs or {}).items())
                print(f"{label} epoch {epoch + 1}/{self.params.get('epochs')}: {shown} ({self.seconds[-1]:.1f} s)")

        @property
        def steady(self):
            """Mean seconds per epoch leaving out the first (tracing, filling caches) when there are more."""
            times = self.seconds[1:] or self.seconds
            return sum(times) / len(times)

    return EpochTimer()


def reset_optimizer(optimizer):
    """Zero an optimizer's step count and moment estimates (its learning rate stays), as if it were new, so one
    compiled model can train again from other weights without re-tracing its graph. Notebook 05."""
    for variable in optimizer.variables:
        if "learning_rate" not in variable.name:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))


def recalibrate_batchnorm(model, batches):
    """Set every BatchNormalization's moving mean and variance to the statistics of its inputs on `batches` (image
    batches, or (images, labels) batches such as a tf.data dataset's): one pass in training mode ("precise BN").
    Use it after re-initializing, so inference-mode predictions use matching statistics. Notebook 05.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.input for layer in layers])
    sums, squares, count = [0.0] * len(layers), [0.0] * len(layers), 0
    for batch in batches:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        outputs = probe(batch, training=True)
        size = int(keras.ops.shape(batch)[0])
        for k, output in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs]):
            value = keras.ops.convert_to_numpy(output).astype(np.float64)
            axes = tuple(range(value.ndim - 1))
            sums[k] = sums[k] + value.mean(axis=axes) * size
            squares[k] = squares[k] + np.square(value).mean(axis=axes) * size
        count += size
    for layer, total, square in zip(layers, sums, squares):
        mean = total / count
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign(np.maximum(square / count - mean**2, 0).astype("float32"))
    return model
