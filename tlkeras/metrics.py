"""Clinical metrics for notebook 05, arranged the way a clinical paper reports them: every ROC curve, AUC,
confusion matrix and balanced accuracy comes from `sklearn.metrics`. Also chance levels and prior-shift weights."""

import numpy as np
from sklearn import metrics as skm


def sensitivity_specificity(y_true, y_pred, num_classes):
    """Per class: sensitivity TP/(TP+FN) and specificity TN/(TN+FP), from sklearn's confusion matrix.

    NaN where a class has no true examples (sensitivity) or no other examples (specificity).
    """
    matrix = skm.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    tp = np.diag(matrix).astype(float)
    fn, fp = matrix.sum(axis=1) - tp, matrix.sum(axis=0) - tp
    tn = matrix.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fn), tn / (tn + fp)


def one_vs_rest_auc(y_true, scores):
    """ROC AUC of each class's score column against all other classes (`roc_auc_score`); NaN if undefined."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    aucs = []
    for column in range(scores.shape[1]):
        positive = y_true == column
        aucs.append(skm.roc_auc_score(positive, scores[:, column]) if 0 < positive.sum() < len(y_true) else np.nan)
    return np.array(aucs)


def prior_weights(y_true, shares):
    """Sample weights giving class c a total weight shares[c]: a metric computed with them (``sample_weight=``)
    is the one expected on a population with those class shares (equal shares turn `accuracy_score` into
    `balanced_accuracy_score`). Raises ValueError when a class with a positive share has no example here.
    """
    y_true, shares = np.asarray(y_true), np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.bincount(y_true, minlength=len(shares))
    missing = np.flatnonzero((shares > 0) & (counts == 0))
    if missing.size:
        raise ValueError(f"classes {missing.tolist()} have a positive share but no example to weight")
    return (shares / np.maximum(counts, 1))[y_true]


def chance_auc_se(n_positive, n_negative):
    """Standard error of the ROC AUC of a score that carries no information (true AUC 0.5) on this many positive
    and negative examples (Hanley & McNeil 1982): how far above 0.5 an AUC must be to beat chance."""
    return float(np.sqrt((n_positive + n_negative + 1) / (12 * n_positive * n_negative)))


def chance_balanced_accuracy_se(y_true, num_classes):
    """Standard error of the balanced accuracy of uniform random guessing (expected 1/k) on these labels."""
    counts = np.bincount(np.asarray(y_true), minlength=num_classes)
    counts = counts[counts > 0]
    p = 1 / num_classes
    return float(np.sqrt(np.sum(p * (1 - p) / counts)) / len(counts))


def paired_balanced_accuracy_gain(y_true, before, after):
    """Balanced accuracy of predictions `after` minus `before` on the same examples, and its standard error.

    Paired, as McNemar's test: per class, the mean and variance of each example's change in correctness.
    """
    y_true = np.asarray(y_true)
    change = (np.asarray(after) == y_true).astype(float) - (np.asarray(before) == y_true)
    groups = [change[y_true == c] for c in np.unique(y_true)]
    variance = sum(g.var(ddof=1) / len(g) for g in groups if len(g) > 1)
    return float(np.mean([g.mean() for g in groups])), float(np.sqrt(variance) / len(groups))


def clinical_report(y_true, probabilities, class_names, malignant=None):
    """A dict of rows (per class: n, sensitivity, specificity, auc), confusion, accuracy, balanced_accuracy and
    macro_auc (mean of the defined one-vs-rest AUCs) from integer labels and (N, classes) probabilities.

    With `malignant` (class names), the summed probability of those classes scores malignant vs benign:
    ``malignant_auc`` and ``malignant_roc`` (false- and true-positive rates from `sklearn.metrics.roc_curve`).
    """
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    count = len(class_names)
    y_pred = probabilities.argmax(axis=1)
    sensitivity, specificity = sensitivity_specificity(y_true, y_pred, count)
    aucs = one_vs_rest_auc(y_true, probabilities)
    support = np.bincount(y_true, minlength=count)
    report = dict(
        rows=[
            dict(diagnosis=name, n=int(support[i]), sensitivity=sensitivity[i], specificity=specificity[i], auc=aucs[i])
            for i, name in enumerate(class_names)
        ],
        confusion=skm.confusion_matrix(y_true, y_pred, labels=np.arange(count)),
        accuracy=float(skm.accuracy_score(y_true, y_pred)),
        balanced_accuracy=float(skm.balanced_accuracy_score(y_true, y_pred)),
        macro_auc=float(np.nanmean(aucs)),
    )
    if malignant is not None:
        positive = np.isin(y_true, [list(class_names).index(name) for name in malignant])
        score = probabilities[:, [list(class_names).index(name) for name in malignant]].sum(axis=1)
        fpr, tpr, _ = skm.roc_curve(positive, score)
        report["malignant_auc"] = float(skm.roc_auc_score(positive, score))
        report["malignant_roc"] = (fpr, tpr)
    return report
