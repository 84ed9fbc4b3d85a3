"""Notebook 04's plumbing: Fashion-MNIST source and targets, the cached source model, seed bookkeeping.

The lesson (the rule-of-thumb table, building each recipe's model, ``trainable``, ``compile``, ``fit``, the
similarity probe) stands in notebook 04; this module holds the data selection and the bookkeeping of many
training runs.
"""

import dataclasses
import json

import numpy as np

from tlkeras import cache, config, sampling

SOURCE_CLASSES = (0, 1, 2, 5, 8)  # T-shirt/top, Trouser, Pullover, Sandal, Bag
TARGET_CLASSES = (3, 4, 6, 7, 9)  # Dress, Coat, Shirt, Sneaker, Ankle boot


@dataclasses.dataclass
class Task:
    """Train, validation and test arrays of one classification task (images float32 in [0, 1], shape (n, 28, 28, 1))."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def select_classes(x, y, classes):
    """Keep the images of `classes`, relabel them 0..len(classes)-1, scale to float32 [0, 1] with a channel axis."""
    classes = list(classes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct labels, got {classes!r}")
    mask = np.isin(y, classes)
    lookup = np.full(int(max(classes)) + 1, -1)
    lookup[classes] = np.arange(len(classes))
    return (x[mask].astype("float32") / 255.0)[..., None], lookup[y[mask]]


def make_task(name, x, y, x_test, y_test, per_class, val_per_class, seed, test_size=None):
    """A `Task` with `per_class` training and `val_per_class` validation images per class, drawn with `seed`."""
    train = sampling.per_class(y, per_class, seed=seed)
    val = sampling.per_class(y, val_per_class, seed=seed + 10_000, exclude=train)
    test = slice(None) if test_size is None else slice(0, int(test_size))
    return Task(name, x[train], y[train], x[val], y[val], x_test[test], y_test[test])


def repeat_to_steps(x, y, batch_size, min_steps):
    """Repeat a tiny training set so that one epoch has at least `min_steps` batches (one pass when it has)."""
    repeats = max(1, int(np.ceil(min_steps * batch_size / len(x))))
    return np.concatenate([x] * repeats), np.concatenate([y] * repeats)


def cached_model(name, build, train, metadata, folder=None):
    """`build()` with the weights `train(model)` gives it, trained once and then read from `tlk.cache`.

    Args:
        name: cache entry name.
        build: returns a fresh (compiled) model; called on every call, cheap.
        train: trains the model in place; called only when the cache has no entry for `metadata`.
        metadata: JSON-able dict of everything the weights depend on (data fingerprint, sizes, epochs).
    Returns:
        (model, `tlk.cache.Entry`); ``entry.status`` says whether the weights were read or trained.
    """
    model = build()

    def compute():
        train(model)
        return {f"w{index:03d}": value for index, value in enumerate(model.get_weights())}

    metadata = json.loads(json.dumps(dict(metadata, weights=len(model.weights))))  # tuples as JSON stores them
    entry = cache.cached(name, metadata, compute, folder=folder or config.cache_dir("models"))
    if entry.status == "hit":
        model.set_weights([entry[key] for key in sorted(entry.arrays)])
    return model, entry


def by_seed(rows, by, value):
    """Group `rows` (dicts with a "seed") by the tuple of keys `by`: {group: array of `value`, in seed order}.

    Rows of one seed share that seed's images, so arrays of two groups can be compared seed by seed.
    """
    groups = {}
    for row in sorted(rows, key=lambda row: row["seed"]):
        groups.setdefault(tuple(row[key] for key in by), []).append(row[value])
    return {group: np.array(values) for group, values in groups.items()}


def choose_on_validation(rows, cell_keys=("size", "target"), option="strategy"):
    """For every cell, the option with the highest mean ``val_accuracy`` over seeds (never the test split).

    Returns {cell: option}. Ties go to the option listed first in `rows`.
    """
    best = {}
    for (*cell, name), values in by_seed(rows, (*cell_keys, option), "val_accuracy").items():
        cell = tuple(cell)
        if cell not in best or values.mean() > best[cell][1]:
            best[cell] = (name, values.mean())
    return {cell: name for cell, (name, _) in best.items()}
