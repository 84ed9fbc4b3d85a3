"""Training helpers: a fit that survives interruption, per-layer-group learning rates, timers, optimizer reset.

`fit_resumable` wraps `model.fit` with `keras.callbacks.BackupAndRestore`, so a run killed mid-way
(a Colab disconnect) continues from the last finished epoch when the same cell runs again.
`layer_rate_optimizer` gives each group of layers its own learning-rate factor; a factor of 0 leaves a
group exactly where `layer.trainable = False` would (notebook 03 trains both twins and compares).
The notebooks call `model.compile` and `model.fit` themselves; these helpers only wrap what is repeated.
"""

import json
import pathlib
import shutil
import time

EPOCH_LOG = "epochs.jsonl"


def _epoch_log_callback(path):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """Append one JSON line per finished epoch (after BackupAndRestore has saved it)."""

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}
            with open(path, "a") as handle:
                handle.write(json.dumps(row) + "\n")

    return EpochLog()


def _read_epoch_log(directory):
    """The epochs a (possibly interrupted and resumed) `fit_resumable` run finished, as dicts."""
    path = pathlib.Path(directory) / EPOCH_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _saved_epoch(backup):
    meta = backup / "training_metadata.json"
    return json.loads(meta.read_text())["epoch"] if meta.exists() else 0


def fit_resumable(model, train, validation_data, epochs, directory, callbacks=(), fresh=False, **fit_kwargs):
    """`model.fit` checkpointed after every epoch in `directory`; rerun after an interruption to resume.

    Weights, optimizer state and the epoch counter are restored, so no epoch is lost or repeated.
    A run that finishes deletes its backup (the next call starts afresh); `fresh=True` discards an old one.
    Other keyword arguments go to `model.fit` (Keras shows its progress bar unless `verbose=0`). Returns the history of all epochs of this run (including those before an interruption) as a dict.
    Introduced in notebook 03.
    """
    import keras

    directory = pathlib.Path(directory)
    backup, log = directory / "backup", directory / EPOCH_LOG
    if fresh and backup.exists():
        shutil.rmtree(backup)
    done = _saved_epoch(backup) if backup.exists() else 0
    rows = _read_epoch_log(directory)[:done]  # a kill between saving and logging must not repeat an epoch
    directory.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    if done:
        print(f"resuming from {backup}: {done} of {epochs} epochs already done")
    restore = keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True)
    model.fit(
        train,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=[restore, _epoch_log_callback(log), *callbacks],
        **fit_kwargs,
    )
    history = {}
    for row in _read_epoch_log(directory):
        for key, value in row.items():
            history.setdefault(key, []).append(value)
    return history


def _variable_factors(groups):
    factors = {}
    for layers, factor in groups:
        if factor < 0:
            raise ValueError(f"learning-rate factors must be >= 0, not {factor}")
        for layer in layers if isinstance(layers, (list, tuple)) else [layers]:
            for variable in layer.trainable_weights:
                factors[variable.path] = float(factor)
    return factors


def layer_rate_optimizer(optimizer, groups):
    """A copy of `optimizer` where each group of layers learns at `factor` x the base learning rate. Notebook 03.

    Args:
        optimizer: a Keras optimizer instance (Adam, SGD, RMSprop, ...); its config is copied.
        groups: list of (layers, factor) pairs; a factor of 0 leaves those weights exactly unchanged. Variables in
            no group (the new head, usually) learn at the base rate.
    """
    if getattr(optimizer, "weight_decay", None):
        raise ValueError("weight decay would still move a group with factor 0; use an optimizer without it")
    factors = _variable_factors(groups)
    base = type(optimizer)

    class LayerRateOptimizer(base):
        def build(self, variables):
            super().build(variables)
            self._factors = [factors.get(v.path, 1.0) for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            factor = self._factors[self._get_variable_index(variable)]
            if factor == 0.0:
                return  # learning rate 0: no update at all, so the weights stay bit-identical
            super().update_step(gradient, variable, learning_rate * factor)

    LayerRateOptimizer.__name__ = f"LayerRate{base.__name__}"
    return LayerRateOptimizer.from_config(optimizer.get_config())


class Timer:
    """Context manager measuring wall-clock seconds: ``with Timer() as t: ...; t.seconds``. Notebook 02."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def snapshot(layers):
    """Copies of the weights of `layers` (a list), to check later which ones changed. Notebook 03."""
    return [[w.copy() for w in layer.get_weights()] for layer in layers]


def unchanged(layers, before):
    """True when every weight of `layers` is bit-identical to `before` (a `snapshot`). Notebook 03."""
    import numpy as np

    return all(np.array_equal(a, b) for layer, old in zip(layers, before) for a, b in zip(layer.get_weights(), old))


def epoch_timer(label=None):
    """A Keras callback whose `.seconds` lists each epoch's wall-clock seconds (validation included). Notebook 02.

    With a `label` it also prints one line per epoch (the label, the epoch, its metrics and seconds), a compact
    progress report for long fits.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
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
    """Zero an optimizer's step count and moment estimates (its learning rate stays), as if it were new.

    Lets one compiled model train again from other starting weights without re-tracing its graph.
    Introduced in notebook 05.
    """
    import numpy as np

    for variable in optimizer.variables:
        if "learning_rate" not in variable.name:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))


def recalibrate_batchnorm(model, images, batch_size=64):
    """Set every BatchNormalization's moving mean/variance to the statistics of its inputs on `images`.

    One pass in training mode, averaging each layer's input mean and mean square over the batches
    ("precise BN"). `images` is an array or a dataset of image batches. Use it after re-initializing,
    so inference-mode predictions use matching statistics. Introduced in notebook 05.
    """
    import keras
    import numpy as np

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.input for layer in layers])
    if hasattr(images, "shape"):
        batches = (images[start : start + batch_size] for start in range(0, len(images), batch_size))
    else:
        batches = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in images)
    sums, squares, count = [0.0] * len(layers), [0.0] * len(layers), 0
    for batch in batches:
        outputs = probe(batch, training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        size = int(keras.ops.shape(batch)[0])
        for k, output in enumerate(outputs):
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
