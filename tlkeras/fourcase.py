"""The four-case experiment of notebook 04: source model, targets, similarity probe and the training grid."""
import dataclasses
import hashlib
import json
import time

import numpy as np

from tlkeras import config, strategy

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
    """Keep the images of `classes`, relabel them 0..len(classes)-1 and scale pixels to float32 [0, 1] with a channel axis."""
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


def per_class_indices(y, per_class, seed, exclude=None):
    """Indices of `per_class` random examples of every class (none from `exclude`), shuffled."""
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(y), bool)
    if exclude is not None:
        allowed[np.asarray(exclude)] = False
    chosen = []
    for label in np.unique(y):
        pool = np.flatnonzero((y == label) & allowed)
        if len(pool) < per_class:
            raise ValueError(f"class {label} has only {len(pool)} examples left, {per_class} requested")
        chosen.append(rng.choice(pool, per_class, replace=False))
    return rng.permutation(np.concatenate(chosen))


def make_task(name, x, y, x_test, y_test, per_class, val_per_class, seed, test_size=None):
    """A `Task` with `per_class` training and `val_per_class` validation images per class drawn with `seed`."""
    train = per_class_indices(y, per_class, seed)
    val = per_class_indices(y, val_per_class, seed + 10_000, exclude=train)
    test = slice(None) if test_size is None else slice(0, int(test_size))
    return Task(name, x[train], y[train], x[val], y[val], x_test[test], y_test[test])


def compile_model(model, learning_rate):
    """Compile for integer labels with Adam at `learning_rate`, tracking accuracy."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def fit(model, task, epochs, batch_size, min_steps=0):
    """Fit on `task` (validating at the end); tiny training sets are repeated to give at least `min_steps` steps per epoch."""
    repeats = max(1, int(np.ceil(min_steps * batch_size / len(task.x_train))))
    x = np.concatenate([task.x_train] * repeats)
    y = np.concatenate([task.y_train] * repeats)
    return model.fit(x, y, validation_data=(task.x_val, task.y_val), epochs=epochs, batch_size=batch_size,
                     validation_freq=epochs, shuffle=True, verbose=0)


def test_accuracy(model, task):
    """Accuracy of `model` on the task's test images."""
    return float(model.evaluate(task.x_test, task.y_test, batch_size=1000, verbose=0)[1])


def train_recipe(source, recipe, task, epochs, batch_size, seed, min_steps=0):
    """Build the recipe's model from `source`, train it on `task`, return its test accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    model = strategy.apply(source, recipe, task.num_classes, seed=seed)
    compile_model(model, recipe.learning_rate)
    fit(model, task, epochs, batch_size, min_steps)
    return test_accuracy(model, task), model


def _fingerprint(settings):
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def cached_source_model(task, build, epochs, batch_size, learning_rate, settings, verbose=True):
    """Train `build()` on `task` once, save it as .keras in the "fourcase" cache and reload it on later calls.

    `settings` (a JSON-able dict describing data and model) names the cache file, so a changed
    configuration trains a new model instead of reusing a stale one. Returns (model, info dict).
    """
    import keras

    settings = dict(settings, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    path = config.cache_dir("fourcase") / f"source_{_fingerprint(settings)}.keras"
    start = time.time()
    if path.exists():
        model = keras.models.load_model(path)
        cached = True
    else:
        model = compile_model(build(), learning_rate)
        model.fit(task.x_train, task.y_train, validation_data=(task.x_val, task.y_val), epochs=epochs,
                  batch_size=batch_size, verbose=0)
        model.save(path)
        cached = False
    info = {"path": str(path), "cached": cached, "seconds": time.time() - start,
            "test_accuracy": test_accuracy(model, task)}
    if verbose:
        print(f"source model {'loaded from' if cached else 'trained and saved to'} {path.name}: "
              f"test accuracy {info['test_accuracy']:.3f} ({info['seconds']:.0f} s)")
    return model, info


def features(model, layer_name, x):
    """Outputs of layer `layer_name` of `model` for images `x`, flattened to (n, features)."""
    import keras

    extractor = keras.Model(model.inputs, model.get_layer(layer_name).output)
    return extractor.predict(x, batch_size=1000, verbose=0).reshape(len(x), -1)


def linear_probe(train_features, y_train, test_features, y_test, l2=1.0):
    """Test accuracy of a ridge-regression classifier (one-hot targets, standardized features) fit in closed form."""
    if len(train_features) != len(y_train) or len(test_features) != len(y_test):
        raise ValueError("features and labels must have the same number of rows")
    mean, scale = train_features.mean(0), train_features.std(0) + 1e-6
    design = np.c_[(train_features - mean) / scale, np.ones(len(train_features))]
    test_design = np.c_[(test_features - mean) / scale, np.ones(len(test_features))]
    targets = np.eye(int(y_train.max()) + 1)[y_train]
    weights = np.linalg.solve(design.T @ design + l2 * np.eye(design.shape[1]), design.T @ targets)
    return float(((test_design @ weights).argmax(1) == y_test).mean())


def similarity_probe(source, random_model, task, layer_name, per_class, seeds=(0, 1, 2), l2=1.0):
    """Linear-probe accuracy on `task` with frozen source features vs features of a random-weight copy.

    The probe is fit on `per_class` training images per class (one draw per seed) and tested on the
    task's test set. Returns a dict: source, random (mean accuracies) and score = source - random.
    """
    draws = [per_class_indices(task.y_train, per_class, seed) for seed in seeds]
    images = np.concatenate([task.x_train[np.concatenate(draws)], task.x_test])
    result = {}
    for name, model in (("source", source), ("random", random_model)):
        feats = features(model, layer_name, images)  # one pass per model: train draws, then the test set
        test_feats, offset, accuracies = feats[-len(task.x_test):], 0, []
        for chosen in draws:
            train_feats = feats[offset:offset + len(chosen)]
            offset += len(chosen)
            accuracies.append(linear_probe(train_feats, task.y_train[chosen], test_feats, task.y_test, l2))
        result[name] = float(np.mean(accuracies))
    result["score"] = result["source"] - result["random"]
    return result


def run_grid(jobs, run_one, label=str):
    """Call `run_one(job)` (returning an accuracy) for every job dict, printing one progress line per run.

    Returns a list of rows: each job dict with its ``accuracy`` and ``seconds`` added.
    """
    jobs = list(jobs)
    rows, start = [], time.time()
    for index, job in enumerate(jobs, start=1):
        began = time.time()
        accuracy = float(run_one(job))
        rows.append(dict(job, accuracy=accuracy, seconds=time.time() - began))
        print(f"[{index:3d}/{len(jobs)}] {label(job):<46s} accuracy {accuracy:.3f}  "
              f"({time.time() - began:4.1f} s, {time.time() - start:4.0f} s so far)", flush=True)
    return rows


def mean_and_spread(rows, by, value="accuracy"):
    """Group `rows` by the tuple of keys `by`; return {group: (mean, std, count)} of `value`."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in by), []).append(row[value])
    return {group: (float(np.mean(v)), float(np.std(v)), len(v)) for group, v in groups.items()}
