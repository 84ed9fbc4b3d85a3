"""Feature caching: run a frozen backbone once, keep its outputs on disk, and know when they are stale.

Each cached part is an ``.npz`` (features, labels) plus a ``.json`` of what produced it: backbone,
a hash of its weights, image size, the data's fingerprint. If any of these differ, the cache is
recomputed, so a new backbone, other weights or changed images can never reuse old features.
"""
import dataclasses
import hashlib
import json
import pathlib
import time

import numpy as np

FORMAT = 1


@dataclasses.dataclass
class FeatureSet:
    """Features of one data part, their labels, the metadata that produced them, and how they were obtained."""

    features: np.ndarray
    labels: np.ndarray
    metadata: dict
    status: str  # "hit", or "computed (<why>)"
    seconds: float
    path: pathlib.Path


def weights_hash(model):
    """A short hash of all of `model`'s weight values (changes if any weight changes)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def metadata(backbone, splits, part):
    """What the features of `part` depend on: backbone, its weights, image size, output shape, data fingerprint."""
    return {
        "format": FORMAT,
        "backbone": backbone.label,
        "weights_file": pathlib.Path(backbone.weights_path).name if backbone.weights_path else None,
        "weights_hash": weights_hash(backbone.model),
        "image_size": int(backbone.input_size),
        "output_shape": list(backbone.model.output_shape[1:]),
        "preprocess": f"{backbone.preprocess.__module__}.{backbone.preprocess.__name__}",
        "data": splits.source,
        "part": part,
        "data_fingerprint": splits.fingerprint(part),
    }


def extract(model, dataset):
    """Run `model` (a frozen backbone) once over a batched (images, labels) dataset: returns (features, labels)."""
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(model.predict_on_batch(images)))  # compiled once, inference mode
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(labels)


def _stale_reason(stored, wanted):
    changed = [f"{key}: {stored.get(key)!r} -> {value!r}" for key, value in wanted.items() if stored.get(key) != value]
    return "; ".join(changed)


def cached(backbone, splits, part, cache_dir=None, batch_size=64, verbose=True):
    """Features of `splits` part `part` through `backbone`, from the disk cache when its metadata match.

    The cache lives in `cache_dir` (default: ``tlk.config.cache_dir("features")``), one file pair per
    backbone and part. Returns a `FeatureSet`; its `status` says "hit" or why features were computed.
    """
    from tlkeras import config

    folder = pathlib.Path(cache_dir) if cache_dir else config.cache_dir("features")
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{backbone.label}-{backbone.input_size}-{part}"
    wanted = metadata(backbone, splits, part)
    meta_path, array_path = folder / f"{stem}.json", folder / f"{stem}.npz"
    started = time.perf_counter()
    if meta_path.exists() and array_path.exists():
        stored = json.loads(meta_path.read_text())
        reason = _stale_reason(stored, wanted)
        if not reason:
            with np.load(array_path) as arrays:
                found = FeatureSet(arrays["features"], arrays["labels"], stored, "hit",
                                   time.perf_counter() - started, array_path)
            if verbose:
                print(f"features {part}: cache hit {array_path.name} {found.features.shape}")
            return found
        status = f"computed (cache stale: {reason})"
    else:
        status = "computed (no cache yet)"
    meta_path.unlink(missing_ok=True)  # until the new features are saved, nothing here is valid
    dataset = splits.dataset(part, backbone.input_size, backbone.preprocess, batch_size=batch_size, cache=False)
    features, labels = extract(backbone.model, dataset)
    np.savez(array_path, features=features, labels=labels)
    meta_path.write_text(json.dumps(wanted, indent=2))  # written last: an interrupted save is never a hit
    seconds = time.perf_counter() - started
    if verbose:
        print(f"features {part}: {status} {features.shape} in {seconds:.1f} s -> {array_path.name}")
    return FeatureSet(features, labels, wanted, status, seconds, array_path)


def new_head(feature_shape, num_classes=2, dropout=0.3, seed=0, name="head"):
    """The new top for a frozen backbone: Dropout then one Dense layer (one logit for two classes)."""
    import keras

    inputs = keras.Input(tuple(feature_shape), name="features")
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(inputs)
    units = 1 if num_classes == 2 else num_classes
    outputs = keras.layers.Dense(units, name="head_logits")(x)
    return keras.Model(inputs, outputs, name=name)


def compile_for(model, optimizer, num_classes=2):
    """Compile `model` with the loss and accuracy matching `new_head` (logits out; integer labels in)."""
    import keras

    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        accuracy = keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])
    return model


def train_head(train, validation, epochs=100, learning_rate=3e-3, batch_size=128, dropout=0.3, seed=0,
               num_classes=2, verbose=0):
    """Build `new_head` and train it on cached `FeatureSet`s; returns (head, history dict)."""
    import keras

    keras.utils.set_random_seed(seed)
    head = new_head(train.features.shape[1:], num_classes, dropout, seed)
    compile_for(head, keras.optimizers.Adam(learning_rate), num_classes)
    history = head.fit(train.features, train.labels, validation_data=(validation.features, validation.labels),
                       epochs=epochs, batch_size=batch_size, verbose=verbose)
    return head, history.history
