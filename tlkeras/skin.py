"""HAM10000 skin-lesion data, lesion-grouped splits, clinical metrics and Transfusion-style re-initialization.

Data: Tschandl, Rosendahl & Kittler, "The HAM10000 dataset", Sci. Data 5:180161 (2018),
doi:10.7910/DVN/DBW86T. Non-commercial use with attribution (CC BY-NC 4.0 as listed by MedMNIST).
Metrics use NumPy only, so they are easy to read and check by hand.
"""
import collections
import csv
import dataclasses
import hashlib
import pathlib

import numpy as np

from tlkeras import config, data

CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
CLASS_NAMES = {
    "akiec": "actinic keratosis / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevus",
    "vasc": "vascular lesion",
}
MALIGNANT = ("akiec", "bcc", "mel")
METADATA_FILES = ("HAM10000_metadata.csv", "labels.csv")
REQUIRED_COLUMNS = ("image_id", "dx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIRROR_SUBDIR = "ham10000_224"
LICENSE = ("HAM10000 (Tschandl et al. 2018, doi:10.7910/DVN/DBW86T): non-commercial use with attribution, "
           "CC BY-NC 4.0 as listed by MedMNIST")


@dataclasses.dataclass
class SkinLesions:
    """Images (uint8, N x H x W x 3, or None before loading) with labels, ids and what was skipped."""

    images: object
    labels: np.ndarray
    image_ids: list
    lesion_ids: list
    paths: list
    source: str
    layout: str
    problems: dict

    def __len__(self):
        return len(self.labels)

    def counts(self):
        """Images per class, as a dict in CLASSES order."""
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(CLASSES)}

    def subset(self, index):
        """The same data restricted to the positions in `index`."""
        index = np.asarray(index, dtype=int)
        return dataclasses.replace(
            self,
            images=None if self.images is None else self.images[index],
            labels=self.labels[index],
            image_ids=[self.image_ids[i] for i in index],
            lesion_ids=[self.lesion_ids[i] for i in index],
            paths=[self.paths[i] for i in index],
        )


# ---------------------------------------------------------------- finding the files

def _problem(problems, kind, item):
    problems.setdefault(kind, []).append(str(item))


def read_metadata(csv_path, problems=None):
    """Read HAM10000-style metadata into {image_id: (lesion_id, dx)}, skipping and reporting bad rows.

    Needs the columns image_id and dx; without lesion_id each image becomes its own lesion (reported).
    """
    problems = {} if problems is None else problems
    csv_path = pathlib.Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in (reader.fieldnames or [])]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ValueError(
                f"{csv_path} lacks the column(s) {missing}; found {columns}. HAM10000 metadata needs "
                f"{list(REQUIRED_COLUMNS)} (and lesion_id for a leak-free split)."
            )
        if "lesion_id" not in columns:
            _problem(problems, "missing column lesion_id (each image is its own lesion)", csv_path)
        rows = {}
        for line, row in enumerate(reader, start=2):
            row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
            image_id, dx = row.get("image_id", ""), row.get("dx", "").lower()
            if not image_id or dx not in CLASSES:
                _problem(problems, "rows without image_id or with unknown dx", f"{csv_path.name}:{line}")
            elif image_id in rows:
                _problem(problems, "duplicate image_id rows", image_id)
            else:
                rows[image_id] = (row.get("lesion_id") or image_id, dx)
    return rows


def _image_files(folder, recursive):
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _image_roots(folder):
    """Subfolders that may hold images: class folders, HAM10000_images_part_*, images/."""
    names = [p for p in sorted(folder.iterdir()) if p.is_dir()]
    return [p for p in names if p.name.lower() in CLASSES or p.name.lower().startswith("ham10000_images")
            or p.name.lower() == "images"]


def _from_metadata(folder, metadata_path, problems):
    """Records (path, image_id, lesion_id, dx) for the metadata layout, or None when no image is found."""
    files = _image_files(folder, recursive=False)
    for root in _image_roots(folder):
        files += _image_files(root, recursive=True)
    if not files:
        return None
    rows = read_metadata(metadata_path, problems)
    by_id = {}
    for path in files:
        if path.stem in by_id:
            _problem(problems, "duplicate image files (first kept)", path)
        elif path.stem not in rows:
            _problem(problems, "files without metadata", path.name)
        else:
            by_id[path.stem] = path
    records = []
    for image_id, (lesion_id, dx) in rows.items():
        path = by_id.get(image_id)
        if path is None:
            _problem(problems, "image ids without files", image_id)
            continue
        if path.parent.name.lower() in CLASSES and path.parent.name.lower() != dx:
            _problem(problems, "class folder disagrees with metadata (metadata used)", path.name)
        records.append((path, image_id, lesion_id, dx))
    return records


def _from_class_folders(folder, problems):
    """Records for the one-folder-per-class layout (no lesion ids: each image is its own lesion)."""
    records = []
    for root in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() in CLASSES):
        for path in _image_files(root, recursive=True):
            records.append((path, path.stem, path.stem, root.name.lower()))
    if records:
        _problem(problems, "no metadata: each image is its own lesion", folder)
    return records or None


def _scan(folder, problems):
    """(layout, folder, records) for the first layout that `folder` holds, or None."""
    if not folder.is_dir():
        return None
    for name in METADATA_FILES:
        if (folder / name).is_file():
            records = _from_metadata(folder, folder / name, problems)
            if records is not None:
                return "metadata " + name, folder, records
            break
    records = _from_class_folders(folder, problems)
    if records is not None:
        return "class folders", folder, records
    if (folder / MIRROR_SUBDIR).is_dir():
        return _scan(folder / MIRROR_SUBDIR, problems)
    return None


def find_ham10000(path=None):
    """Locate HAM10000 images and labels without reading pixels; returns SkinLesions with images=None.

    Searches `tlk.data.search_dirs("skin_lesion", path)` in order and accepts (1) the official layout,
    ``HAM10000_metadata.csv`` plus ``HAM10000_images_part_*`` folders, (2) one folder per class, (3) the
    mirror's ``ham10000_224/`` (class folders + ``labels.csv``). Bad rows and stray files are skipped
    and listed in ``.problems``; a folder with nothing usable raises ValueError.
    """
    searched = []
    for label, folder in data.search_dirs("skin_lesion", path):
        problems = {}
        try:
            found = _scan(folder, problems)
        except ValueError as error:
            if label == "path argument":
                raise
            searched.append(f"{label}: {error}")
            continue
        if found is None:
            searched.append(f"{label}: {folder} (no HAM10000 layout)")
            if label == "path argument":
                raise FileNotFoundError(f"{folder} holds no HAM10000 metadata+images or class folders")
            continue
        layout, folder, records = found
        if not records:
            raise ValueError(f"{folder}: no usable images remain. Skipped: {describe_problems(problems)}")
        records.sort(key=lambda record: record[1])
        paths, image_ids, lesion_ids, dxs = (list(column) for column in zip(*records))
        labels = np.array([CLASSES.index(dx) for dx in dxs], dtype=np.int64)
        return SkinLesions(None, labels, image_ids, lesion_ids, paths, f"{label}: {folder}", layout, problems)
    raise FileNotFoundError(
        "HAM10000 not found. Searched:\n  - " + "\n  - ".join(searched) + "\nDownload it from "
        "doi:10.7910/DVN/DBW86T and pass path=..., or export TLKERAS_MIRROR=/path/holding/skin_lesion"
    )


def describe_problems(problems, show=3):
    """One line per kind of skipped input, with a few examples."""
    if not problems:
        return "nothing skipped"
    lines = []
    for kind, items in problems.items():
        examples = ", ".join(items[:show]) + (", ..." if len(items) > show else "")
        lines.append(f"{len(items)} {kind} ({examples})")
    return "; ".join(lines)


# ---------------------------------------------------------------- reading the pixels

def read_image(path, image_size):
    """One image as uint8 (image_size, image_size, 3); the whole frame is resized, not cropped."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def limit_per_class(labels, lesion_ids, limit, seed=0):
    """Positions keeping at most `limit` images per class, drawn whole lesion by whole lesion."""
    rng = np.random.default_rng(seed)
    keep = []
    for cls in np.unique(labels):
        lesions = sorted({lesion_ids[i] for i in np.flatnonzero(labels == cls)})
        members = collections.defaultdict(list)
        for i in np.flatnonzero(labels == cls):
            members[lesion_ids[i]].append(i)
        taken = []
        for j in rng.permutation(len(lesions)):
            if len(taken) >= limit:
                break
            taken += members[lesions[j]]
        keep += taken
    return np.sort(np.array(keep, dtype=int))


def load_ham10000(path=None, image_size=224, max_per_class=None, seed=0, verbose=True):
    """Find HAM10000 (see `find_ham10000`) and read the images as uint8 arrays; unreadable files are skipped.

    Args:
        image_size: side of the square images returned (the whole lesion frame is resized).
        max_per_class: keep at most this many images per class (whole lesions, chosen with `seed`).
    Returns:
        SkinLesions with ``.images`` of shape (N, image_size, image_size, 3).
    """
    found = find_ham10000(path)
    if max_per_class is not None:
        found = found.subset(limit_per_class(found.labels, found.lesion_ids, max_per_class, seed))
    images, good = [], []
    for i, file in enumerate(found.paths):
        try:
            images.append(read_image(file, image_size))
            good.append(i)
        except (OSError, ValueError, SyntaxError) as error:  # PIL raises these for corrupt files
            _problem(found.problems, "unreadable images", f"{file.name} ({error.__class__.__name__})")
    if not good:
        raise ValueError(f"{found.source}: no readable image. Skipped: {describe_problems(found.problems)}")
    result = found.subset(good)
    result.images = np.stack(images)
    if verbose:
        print(f"HAM10000 from {result.source} ({result.layout}): {len(result)} images, {result.counts()}")
        print(f"  skipped: {describe_problems(result.problems)}")
    return result


def official_metadata(path=None):
    """The full HAM10000_metadata.csv (first found in the search order) as {image_id: (lesion_id, dx)}."""
    for _, folder in data.search_dirs("skin_lesion", path):
        for candidate in (folder / "HAM10000_metadata.csv", folder.parent / "HAM10000_metadata.csv"):
            if candidate.is_file():
                return read_metadata(candidate)
    raise FileNotFoundError("HAM10000_metadata.csv not found in the skin_lesion search places")


def official_class_counts(path=None):
    """Images per class in the full HAM10000 metadata (nv 6705 of 10015 in the official release)."""
    counts = collections.Counter(dx for _, dx in official_metadata(path).values())
    return {name: counts.get(name, 0) for name in CLASSES}


# ---------------------------------------------------------------- splitting

def split_by_lesion(lesion_ids, labels, fractions=(0.7, 0.15, 0.15), seed=0):
    """Index arrays for train/val/test (one per fraction): grouped by lesion, stratified by class, seeded.

    All images of one lesion land in the same part, so no lesion is seen in training and again at test time.
    """
    fractions = np.asarray(fractions, dtype=float)
    if len(lesion_ids) != len(labels):
        raise ValueError(f"{len(lesion_ids)} lesion ids but {len(labels)} labels")
    if np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions.tolist()}")
    labels = np.asarray(labels)
    members = collections.defaultdict(list)
    for i, lesion in enumerate(lesion_ids):
        members[lesion].append(i)
    lesion_label = {lesion: collections.Counter(labels[idx]).most_common(1)[0][0] for lesion, idx in members.items()}
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    edges = np.cumsum(fractions)
    for cls in sorted(set(lesion_label.values())):
        lesions = sorted(lesion for lesion, label in lesion_label.items() if label == cls)
        lesions = [lesions[j] for j in rng.permutation(len(lesions))]
        total, done = sum(len(members[lesion]) for lesion in lesions), 0
        for lesion in lesions:
            middle = (done + len(members[lesion]) / 2) / total
            parts[int(np.searchsorted(edges, middle))].extend(members[lesion])
            done += len(members[lesion])
    return tuple(np.sort(np.array(part, dtype=int)) for part in parts)


# ---------------------------------------------------------------- class imbalance

def class_weights(labels, num_classes=len(CLASSES)):
    """Keras `class_weight` dict n / (k * n_c): every class contributes equally to the loss."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    present = counts > 0
    weights = np.where(present, len(labels) / (present.sum() * np.maximum(counts, 1)), 0.0)
    return {i: float(w) for i, w in enumerate(weights)}


def balanced_indices(labels, per_class=None, seed=0):
    """Positions resampled with replacement so every present class appears `per_class` times (default: the largest count)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = per_class or max(int(np.sum(labels == c)) for c in classes)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=True) for c in classes]
    return rng.permutation(np.concatenate(picks))


def subsample_to_proportions(labels, proportions, seed=0, minimum=1):
    """Positions that follow class `proportions` (dict or array), keeping as many images as the data allow."""
    labels = np.asarray(labels)
    if isinstance(proportions, dict):
        proportions = [proportions.get(name, 0) for name in CLASSES]
    share = np.asarray(proportions, dtype=float) / np.sum(proportions)
    counts = np.bincount(labels, minlength=len(share))
    usable = share > 0
    total = np.min(counts[usable] / share[usable])
    wanted = np.where(usable, np.maximum(minimum, np.floor(share * total)), 0).astype(int)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), min(wanted[c], counts[c]), replace=False)
             for c in range(len(share)) if wanted[c] > 0 and counts[c] > 0]
    return np.sort(np.concatenate(picks))


# ---------------------------------------------------------------- clinical metrics

def confusion_matrix(y_true, y_pred, num_classes=len(CLASSES)):
    """Counts with rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def sensitivity_specificity(y_true, y_pred, num_classes=len(CLASSES)):
    """Per-class sensitivity TP/(TP+FN) and specificity TN/(TN+FP), NaN where a class is absent."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(float)
    fn, fp = matrix.sum(axis=1) - tp, matrix.sum(axis=0) - tp
    tn = matrix.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fn), tn / (tn + fp)


def roc_curve(y_true, scores):
    """False- and true-positive rates for every distinct threshold, from (0, 0) to (1, 1)."""
    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    y_sorted, s_sorted = y_true[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]  # end of each tied block
    tps, fps = np.cumsum(y_sorted)[last], (last + 1) - np.cumsum(y_sorted)[last]
    positives, negatives = y_true.sum(), (~y_true).sum()
    if positives == 0 or negatives == 0:
        raise ValueError("a ROC curve needs both positive and negative examples")
    return np.r_[0.0, fps / negatives], np.r_[0.0, tps / positives]


def roc_auc(y_true, scores):
    """Area under the ROC curve: the chance a random positive outscores a random negative (ties count 1/2)."""
    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=float)
    positives, negatives = y_true.sum(), (~y_true).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    for end in np.r_[np.flatnonzero(np.diff(sorted_scores)) + 1, len(scores)]:
        ranks[order[start:end]] = (start + end + 1) / 2  # average rank of the tied block (1-based)
        start = end
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def one_vs_rest_auc(y_true, probabilities):
    """ROC AUC of each class's probability against all other classes (NaN for an absent class)."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    return np.array([roc_auc(y_true == c, probabilities[:, c]) for c in range(probabilities.shape[1])])


def malignant_score(probabilities, classes=CLASSES):
    """Probability of a malignant diagnosis: the summed probabilities of mel, bcc and akiec."""
    columns = [classes.index(name) for name in MALIGNANT]
    return np.asarray(probabilities)[:, columns].sum(axis=1)


def is_malignant(labels, classes=CLASSES):
    """True where the diagnosis is mel, bcc or akiec."""
    return np.isin(np.asarray(labels), [classes.index(name) for name in MALIGNANT])


def clinical_report(y_true, probabilities, classes=CLASSES):
    """The figures clinicians read, as a dict: rows (per class), confusion, macro_auc, malignant_auc/roc, balanced_accuracy."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    y_pred = probabilities.argmax(axis=1)
    sensitivity, specificity = sensitivity_specificity(y_true, y_pred, len(classes))
    aucs = one_vs_rest_auc(y_true, probabilities)
    counts = np.bincount(y_true, minlength=len(classes))
    rows = [dict(diagnosis=name, n=int(counts[i]), sensitivity=sensitivity[i], specificity=specificity[i], auc=aucs[i])
            for i, name in enumerate(classes)]
    malignant, score = is_malignant(y_true, classes), malignant_score(probabilities, classes)
    return dict(
        rows=rows,
        confusion=confusion_matrix(y_true, y_pred, len(classes)),
        accuracy=float(np.mean(y_pred == y_true)),
        balanced_accuracy=float(np.nanmean(sensitivity)),
        macro_auc=float(np.nanmean(aucs)),
        malignant_auc=roc_auc(malignant, score),
        malignant_roc=roc_curve(malignant, score),
    )


def plot_confusion(matrix, classes=CLASSES, ax=None, title="Confusion matrix"):
    """Row-normalised confusion matrix (each row sums to 1: the diagonal is the sensitivity), with counts."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 4.5))[1]
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true", title=title)
    return ax


def plot_roc(curves, ax=None, title="Malignant vs benign"):
    """ROC curves from {label: (fpr, tpr, auc)} with the chance diagonal."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", label="chance")
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)", title=title)
    ax.legend(loc="lower right")
    return ax


# ---------------------------------------------------------------- Transfusion (Raghu et al. 2019)

_INITIALIZER_ATTRIBUTES = {
    "kernel": "kernel_initializer", "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer", "bias": "bias_initializer", "gamma": "gamma_initializer",
    "beta": "beta_initializer", "moving_mean": "moving_mean_initializer",
    "moving_variance": "moving_variance_initializer", "embeddings": "embeddings_initializer",
}


def _fresh_value(layer, variable, seed):
    """A new value for `variable` drawn from its layer's own initializer (seeded where it takes a seed)."""
    import keras

    initializer = getattr(layer, _INITIALIZER_ATTRIBUTES.get(variable.name, ""), None)
    if initializer is None:
        initializer = keras.initializers.GlorotUniform() if len(variable.shape) > 1 else keras.initializers.Zeros()
    initializer = keras.initializers.get(initializer)
    settings = initializer.get_config()
    if "seed" in settings:
        initializer = initializer.__class__.from_config({**settings, "seed": seed})
    return keras.ops.convert_to_numpy(initializer(variable.shape, dtype=variable.dtype))


def reinitialize(model, mode="random", seed=0):
    """A copy of `model` with new weights: "random" (each layer's own initializer) or "mean_var".

    "mean_var" is Raghu et al.'s Mean Var Init: every kernel (each trainable array with 2 or more axes) is
    drawn i.i.d. from a normal with the mean and standard deviation of the matching pretrained kernel.
    Biases, BatchNorm scales/shifts and statistics get their default initial values, as in "random";
    refresh BatchNorm statistics with `recalibrate_batchnorm`.
    """
    import keras

    if mode not in ("random", "mean_var"):
        raise ValueError(f"mode must be 'random' or 'mean_var', not {mode!r}")
    clone = keras.models.clone_model(model)
    rng = np.random.default_rng(seed)
    for number, (old, new) in enumerate(zip(model.layers, clone.layers)):
        for index, (source, target) in enumerate(zip(old.weights, new.weights)):
            if mode == "mean_var" and source.trainable and len(source.shape) >= 2:
                pretrained = keras.ops.convert_to_numpy(source)
                value = rng.normal(pretrained.mean(), pretrained.std(), size=pretrained.shape)
            else:
                value = _fresh_value(new, target, seed * 100003 + number * 101 + index)
            target.assign(np.asarray(value, dtype=target.dtype))
    return clone


def reset_optimizer(optimizer):
    """Zero an optimizer's step count and moment estimates (its learning rate stays), as if it were new.

    This lets one compiled model train again from other starting weights without re-tracing its graph.
    """
    for variable in optimizer.variables:
        if "learning_rate" not in variable.name:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))


def layer_statistics(model, kernels_only=False):
    """Rows (layer, weight, size, mean, std) for every trainable array with more than one element (or every kernel)."""
    import keras

    rows = []
    for layer in model.layers:
        for variable in layer.trainable_weights:
            value = keras.ops.convert_to_numpy(variable)
            if value.size > 1 and (value.ndim >= 2 or not kernels_only):
                rows.append(dict(layer=layer.name, weight=variable.name, size=int(value.size),
                                 mean=float(value.mean()), std=float(value.std())))
    return rows


def recalibrate_batchnorm(model, images, batch_size=64):
    """Set every BatchNormalization's moving mean/variance to the statistics its inputs have on `images`.

    One pass in training mode (each BN normalises with batch statistics, as while training), averaging
    each layer's input mean and mean square over the batches ("precise BN"). Use it after re-initializing
    or after training with batch statistics, so inference-mode predictions use matching statistics.
    """
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return model
    probe = keras.Model(model.input, [layer.input for layer in layers])
    sums = [0.0] * len(layers)
    squares = [0.0] * len(layers)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        outputs = probe(batch, training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for k, output in enumerate(outputs):
            value = keras.ops.convert_to_numpy(output).astype(np.float64)
            axes = tuple(range(value.ndim - 1))
            sums[k] = sums[k] + value.mean(axis=axes) * len(batch)
            squares[k] = squares[k] + np.square(value).mean(axis=axes) * len(batch)
    for layer, total, square in zip(layers, sums, squares):
        mean = total / len(images)
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign(np.maximum(square / len(images) - mean ** 2, 0).astype("float32"))
    return model


# ---------------------------------------------------------------- modality transfer

def to_grayscale(images):
    """Luminance 0.299 R + 0.587 G + 0.114 B as float32 with one channel (N, H, W, 1)."""
    images = np.asarray(images, dtype=np.float32)
    return (images @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


def first_conv(model):
    """The first Conv2D layer whose kernel reads 3 input channels."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel.shape[-2] == 3:
            return layer
    raise ValueError(f"{model.name} has no Conv2D reading 3 channels")


def single_channel_model(model):
    """A copy of `model` that takes 1-channel input: the first conv's RGB kernels are summed into one.

    Since conv(g, w_r + w_g + w_b) = conv([g, g, g], [w_r, w_g, w_b]), the copy on a gray image equals the
    original on that image copied into three channels, when preprocessing treats channels alike.
    """
    import keras

    conv = first_conv(model)
    height, width = model.input_shape[1:3]
    clone = keras.models.clone_model(model, input_tensors=keras.Input((height, width, 1)))
    for old, new in zip(model.layers, clone.layers):
        weights = old.get_weights()
        if old is conv:
            weights[0] = weights[0].sum(axis=2, keepdims=True)
        new.set_weights(weights)
    return clone


# ---------------------------------------------------------------- feature cache

def _fingerprint(*arrays):
    digest = hashlib.sha1()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def cached_features(model, inputs, batch_size=64, name="features"):
    """`model.predict(inputs)`, stored as .npy under tlk.config.cache_dir("skin") keyed by weights and inputs."""
    import keras

    weights = [keras.ops.convert_to_numpy(v) for v in model.weights[:2] + model.weights[-2:]]
    key = _fingerprint(np.asarray(inputs), *weights)
    path = config.cache_dir("skin") / f"{name}_{model.name}_{key}.npy"
    if path.exists():
        return np.load(path)
    features = model.predict(inputs, batch_size=batch_size, verbose=0)
    np.save(path, features)
    return features
