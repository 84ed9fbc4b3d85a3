"""Notebook 04's experiment: Fashion-MNIST source and targets, the cached source model, the probe, the grid.

The Keras lesson (``model.compile``, ``model.fit``, ``layer.trainable``) stays in the notebook; this module
holds the data plumbing and the bookkeeping of many training runs. Introduced in notebook 04.
"""

import dataclasses
import json
import time

import numpy as np

from tlkeras import cache, config, models, sampling

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

    @property
    def num_classes(self):
        """Number of classes (labels are 0..num_classes-1)."""
        return int(self.y_train.max()) + 1


def select_classes(x, y, classes):
    """Keep the images of `classes`, relabel them 0..len(classes)-1, scale to float32 [0, 1] with a channel axis."""
    classes = list(classes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct labels, got {classes!r}")
    mask = np.isin(y, classes)
    lookup = np.full(int(max(classes)) + 1, -1)
    lookup[classes] = np.arange(len(classes))
    return (x[mask].astype("float32") / 255.0)[..., None], lookup[y[mask]]


def permute_pixels(x, seed=0):
    """Apply one fixed random permutation (chosen by `seed`) to the pixel positions of every image."""
    order = np.random.default_rng(seed).permutation(int(np.prod(x.shape[1:3])))
    flat = x.reshape(len(x), -1, x.shape[-1]) if x.ndim == 4 else x.reshape(len(x), -1)
    return flat[:, order].reshape(x.shape)


def check_sizes(labels, sizes, val_per_class, test_labels=None, test_size=None):
    """Raise ValueError, in seconds rather than after the grid, when a profile asks for more images than exist.

    `sizes` maps a name ("small", ...) to training images per class; every draw also needs
    `val_per_class` validation images of each class from the same pool.
    """
    counts = np.bincount(np.asarray(labels))
    fewest = int(counts[counts > 0].min())
    for name, per_class in sizes.items():
        if int(per_class) < 1 or int(per_class) + int(val_per_class) > fewest:
            raise ValueError(
                f"size {name!r}: {per_class} training + {val_per_class} validation images per class "
                f"requested, but the smallest class has {fewest}; lower it in the profile settings"
            )
    if test_size is not None and test_labels is not None and int(test_size) > len(test_labels):
        raise ValueError(f"test_size {test_size} is larger than the {len(test_labels)} test images available")


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


def linear_probe(train_features, y_train, test_features, y_test, l2=1.0):
    """Test accuracy of a ridge classifier (scikit-learn) on standardized features."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(train_features) != len(y_train) or len(test_features) != len(y_test):
        raise ValueError("features and labels must have the same number of rows")
    probe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=l2))
    return float(probe.fit(train_features, y_train).score(test_features, y_test))


def similarity_probe(source, random_model, task, layer_name, per_class, seeds=(0, 1, 2), l2=1.0):
    """Linear-probe accuracy on `task` with frozen source features vs features of a random-weight copy.

    The probe is fit on `per_class` training images per class (one draw per seed) and tested on the
    task's test set. Returns a dict: source, random (mean accuracies), score = source - random, and
    spread (the larger of the two standard deviations over draws).
    """
    draws = [sampling.per_class(task.y_train, per_class, seed=seed) for seed in seeds]
    images = np.concatenate([task.x_train[np.concatenate(draws)], task.x_test])
    result, spreads = {}, []
    for name, model in (("source", source), ("random", random_model)):
        extractor = models.submodel(model, layer_name)
        feats = extractor.predict(images, batch_size=1000, verbose=0).reshape(len(images), -1)
        test_feats, offset, accuracies = feats[-len(task.x_test) :], 0, []
        for chosen in draws:  # one pass per model: the train draws, then the test set
            train_feats = feats[offset : offset + len(chosen)]
            offset += len(chosen)
            accuracies.append(linear_probe(train_feats, task.y_train[chosen], test_feats, task.y_test, l2))
        result[name] = float(np.mean(accuracies))
        spreads.append(float(np.std(accuracies)))
    result["score"] = result["source"] - result["random"]
    result["spread"] = max(spreads)
    return result


def run_grid(jobs, run_one, label=str):
    """Call `run_one(job)` for every job dict, printing one progress line per run.

    `run_one` returns a dict of measurements (e.g. ``val_accuracy``, ``test_accuracy``). Returns a list of
    rows: each job dict with those measurements and ``seconds`` added.
    """
    jobs = list(jobs)
    rows, start = [], time.time()
    for index, job in enumerate(jobs, start=1):
        began = time.time()
        measured = dict(run_one(job))
        rows.append(dict(job, **measured, seconds=time.time() - began))
        shown = "  ".join(f"{key} {value:.3f}" for key, value in measured.items())
        print(
            f"[{index:3d}/{len(jobs)}] {label(job):<40s} {shown}  ({time.time() - began:4.1f} s, "
            f"{time.time() - start:4.0f} s so far)",
            flush=True,
        )
    return rows


def mean_and_spread(rows, by, value="test_accuracy"):
    """Group `rows` by the tuple of keys `by`; return {group: (mean, std over rows, count)} of `value`."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in by), []).append(row[value])
    return {group: (float(np.mean(v)), float(np.std(v)), len(v)) for group, v in groups.items()}


def choose_on_validation(rows, cell_keys=("size", "target"), option="strategy", value="val_accuracy"):
    """For every cell, the option with the highest mean `value` over seeds (validation, never test).

    Returns {cell: option}. Ties go to the option listed first in `rows`.
    """
    summary = mean_and_spread(rows, by=(*cell_keys, option), value=value)
    best = {}
    for (*cell, name), (mean, _, _) in summary.items():
        cell = tuple(cell)
        if cell not in best or mean > best[cell][1]:
            best[cell] = (name, mean)
    return {cell: name for cell, (name, _) in best.items()}
