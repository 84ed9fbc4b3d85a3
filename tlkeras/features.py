"""Feature caching: run a frozen backbone once, keep its outputs on disk, and know when they are stale.

Each cached part is an ``.npz`` (features, labels) plus a ``.json`` of what produced it: backbone,
a hash of its weights, image size, the data's fingerprint. If any of these differ, the cache is
recomputed, so a new backbone, other weights or changed images can never reuse old features.
"""
import dataclasses
import hashlib
import pathlib

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
    """TRANSITIONAL (removed with this module): `tlk.backbones.features` for one part of an `ImageSplits`."""
    from tlkeras import backbones

    name = "cats_vs_dogs-" + part if "cats_vs_dogs" in splits.source or "folder" in splits.source else part
    entry = backbones.features(backbone, splits.paths(part), splits.labels(part), name, batch_size, cache_dir)
    return FeatureSet(entry["features"], entry["labels"], entry.metadata, entry.status, entry.seconds, entry.path)


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
