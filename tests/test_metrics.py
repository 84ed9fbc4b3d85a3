"""tlkeras.metrics against figures worked out by hand (not against the module's own definitions)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from tlkeras import metrics


def test_sensitivity_and_specificity_from_a_hand_counted_example():
    # true 0,0,0,1,1,2 ; predicted 0,0,1,1,2,2
    # class 0: TP 2 FN 1 FP 0 TN 3 -> 2/3, 1 ; class 1: TP 1 FN 1 FP 1 TN 3 -> 1/2, 3/4 ; class 2: TP 1 FN 0 FP 1 TN 4
    sensitivity, specificity = metrics.sensitivity_specificity([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3)
    np.testing.assert_allclose(sensitivity, [2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(specificity, [1, 3 / 4, 4 / 5])
    sensitivity, _ = metrics.sensitivity_specificity([0, 1], [0, 1], 3)
    assert np.isnan(sensitivity[2])  # a class with no true example has no sensitivity


def test_one_vs_rest_auc_counts_ordered_pairs_and_ties():
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]])
    # class 1 positives (rows 1, 3) score 0.6, 0.8 vs negatives 0.1, 0.4: all 4 pairs ordered -> 1.0
    # class 0 positives (rows 0, 2) score 0.9, 0.6 vs negatives 0.4, 0.2: all ordered -> 1.0
    np.testing.assert_allclose(metrics.one_vs_rest_auc([0, 1, 0, 1], scores), [1.0, 1.0])
    # 3 of 4 pairs ordered
    auc = metrics.one_vs_rest_auc([1, 0, 1, 0], np.array([[0, 0.8], [0, 0.4], [0, 0.3], [0, 0.1]]))[1]
    assert auc == pytest.approx(0.75)
    tie = metrics.one_vs_rest_auc([0, 1, 1], np.array([[0, 0.5], [0, 0.5], [0, 0.9]]))[1]
    assert tie == pytest.approx(0.75)  # a tie counts one half
    assert np.isnan(metrics.one_vs_rest_auc([1, 1], np.array([[0.1, 0.9], [0.2, 0.8]]))[0])


def test_clinical_report_with_a_malignant_group():
    names = ("akiec", "mel", "nv")
    y = np.array([0, 1, 2, 2, 1, 2])
    probabilities = np.array(
        [
            [0.6, 0.2, 0.2],  # akiec, right
            [0.1, 0.3, 0.6],  # mel called nv
            [0.1, 0.1, 0.8],  # nv, right
            [0.2, 0.5, 0.3],  # nv called mel
            [0.1, 0.8, 0.1],  # mel, right
            [0.0, 0.1, 0.9],  # nv, right
        ]
    )
    report = metrics.clinical_report(y, probabilities, names, malignant=("akiec", "mel"))
    assert report["accuracy"] == pytest.approx(4 / 6)
    # per-class recall: akiec 1/1, mel 1/2, nv 2/3 -> balanced accuracy is their mean
    assert report["balanced_accuracy"] == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert report["confusion"].tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 2]]
    assert [row["n"] for row in report["rows"]] == [1, 2, 3]
    # malignant score = akiec + mel: 0.8, 0.4, 0.2, 0.7, 0.9, 0.1 for truth M, M, B, B, M, B
    # malignant (0.8, 0.4, 0.9) vs benign (0.2, 0.7, 0.1): ordered pairs 3 + 2 + 3 = 8 of 9
    assert report["malignant_auc"] == pytest.approx(8 / 9)
    fpr, tpr = report["malignant_roc"]
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)


def test_prior_weights_rescore_a_test_set_at_other_class_shares():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 0, 0])  # recall 3/4, 1/2, 1/2
    weights = metrics.prior_weights(y_true, [1, 1, 1])
    balanced = skm.accuracy_score(y_true, y_pred, sample_weight=weights)
    assert balanced == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    # a population of 80 % class 0 and 10 % each of 1 and 2: 0.8 * 3/4 + 0.1 * 1/2 + 0.1 * 1/2
    weights = metrics.prior_weights(y_true, [8, 1, 1])
    assert skm.accuracy_score(y_true, y_pred, sample_weight=weights) == pytest.approx(0.7)
    assert weights[y_true == 0].sum() == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"\[1\]"):
        metrics.prior_weights(np.array([0, 2]), [1, 1, 1])


def test_chance_levels_worked_by_hand():
    # one positive, one negative, random scores: AUC is 0 or 1 with probability 1/2 each -> standard deviation 1/2
    assert metrics.chance_auc_se(1, 1) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    aucs = [skm.roc_auc_score([1] * 30 + [0] * 50, rng.random(80)) for _ in range(4000)]
    assert np.std(aucs) == pytest.approx(metrics.chance_auc_se(30, 50), rel=0.05)
    # two classes of 4 and 16 examples, guessing each with probability 1/2: sqrt(0.25/4 + 0.25/16) / 2
    labels = np.array([0] * 4 + [1] * 16)
    assert metrics.chance_balanced_accuracy_se(labels, 2) == pytest.approx(np.sqrt(0.25 / 4 + 0.25 / 16) / 2)


def test_paired_balanced_accuracy_gain():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    before = np.array([0, 0, 1, 1, 0, 0])  # recall 1/2, 0 -> balanced 1/4
    after = np.array([0, 0, 0, 1, 1, 0])  # recall 3/4, 1/2 -> balanced 5/8
    gain, error = metrics.paired_balanced_accuracy_gain(y_true, before, after)
    assert gain == pytest.approx(5 / 8 - 1 / 4)
    # changes: class 0 (0, 0, 1, 0) var 1/4 over 4; class 1 (1, 0) var 1/2 over 2
    assert error == pytest.approx(np.sqrt(0.25 / 4 + 0.5 / 2) / 2)
    assert metrics.paired_balanced_accuracy_gain(y_true, before, before) == (0.0, 0.0)
