"""Notebook 04's plumbing: Fashion-MNIST source and targets, the cached source model, the probe, seed bookkeeping.

The Keras lesson (building each strategy's model, ``trainable``, ``compile``, ``fit``) stays in the notebook;
this module holds the data plumbing and the bookkeeping of many training runs. Introduced in notebook 04.
"""

import dataclasses
import json

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


def linear_probe(train_features, y_train, eval_features, y_eval):
    """Accuracy on (`eval_features`, `y_eval`) of a ridge classifier (scikit-learn) fit on standardized features."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(train_features) != len(y_train) or len(eval_features) != len(y_eval):
        raise ValueError("features and labels must have the same number of rows")
    probe = make_pipeline(StandardScaler(), RidgeClassifier())
    return float(probe.fit(train_features, y_train).score(eval_features, y_eval))


def similarity_probe(source, random_model, layer_name, train, validation, per_class, seeds=(0, 1, 2)):
    """Linear-probe accuracy with frozen `source` features against features of a random-weight copy.

    For each seed the probe is fit on `per_class` images per class drawn from `train` (x, y) and scored
    on `validation` (x, y); the test split plays no part. Source and random features see the same draw,
    so the score is paired by draw. Returns a dict: source, random (mean accuracies), score (mean of
    source - random) and spread (the score's standard deviation over draws, ddof=1).
    """
    (x_pool, y_pool), (x_val, y_val) = train, validation
    draws = [sampling.per_class(y_pool, per_class, seed=seed) for seed in seeds]
    images = np.concatenate([x_pool[np.concatenate(draws)], x_val])
    accuracies = {}
    for name, model in (("source", source), ("random", random_model)):
        features = models.submodel(model, layer_name).predict(images, batch_size=1000, verbose=0)
        features = features.reshape(len(images), -1)
        per_draw = np.split(features[: -len(x_val)], np.cumsum([len(draw) for draw in draws])[:-1])
        accuracies[name] = np.array(
            [linear_probe(train, y_pool[draw], features[-len(x_val) :], y_val) for train, draw in zip(per_draw, draws)]
        )
    gain = accuracies["source"] - accuracies["random"]
    return dict(
        source=float(accuracies["source"].mean()),
        random=float(accuracies["random"].mean()),
        score=float(gain.mean()),
        spread=float(gain.std(ddof=1)) if len(gain) > 1 else float("nan"),
    )


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
