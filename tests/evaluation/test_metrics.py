"""The classification metrics counted from one confusion matrix equal sklearn's own functions
(``zero_division=0``): binary with any positive label, support-weighted for several classes,
classes the model never predicts, and labels outside the model's classes (sklearn's path)."""

import numpy as np
import pytest
from sklearn import metrics as m

from modelyard.evaluation import default


def _sklearn(y_true, y_pred, classes, pos_label):
    kw = {"pos_label": pos_label, "average": "binary"} if len(classes) == 2 else {"average": "weighted"}
    return {
        "accuracy_score": m.accuracy_score(y_true, y_pred),
        "precision_score": m.precision_score(y_true, y_pred, zero_division=0, **kw),
        "recall_score": m.recall_score(y_true, y_pred, zero_division=0, **kw),
        "f1_score": m.f1_score(y_true, y_pred, zero_division=0, **kw),
    }


def _case(y_true, y_pred, classes, pos_label=None):
    p = default.Predictions(np.asarray(y_true), np.asarray(y_pred), None, classes, pos_label)
    ours = default.classifier_metrics(p)
    expected = _sklearn(p.y_true, p.y_pred, classes, pos_label)
    assert {k: ours[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    return ours


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y, pred = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    ours = _case(y, pred, [0, 1], 1)
    tn, fp, fn, tp = m.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (ours["true_negatives"], ours["false_positives"], ours["false_negatives"], ours["true_positives"]) == (tn, fp, fn, tp)
    _case(np.where(y == 1, "yes", "no"), np.where(pred == 1, "yes", "no"), ["no", "yes"], "no")


def test_a_class_never_predicted_scores_zero_as_sklearn_does():
    ours = _case([0, 1, 1, 0], [0, 0, 0, 0], [0, 1], 1)
    assert ours["precision_score"] == 0.0 and ours["f1_score"] == 0.0 and ours["true_positives"] == 0.0


def test_weighted_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))  # class 3 never predicted
    _case(y, pred, [0, 1, 2, 3])
    _case(y[y < 3], pred[y < 3], [0, 1, 2, 3])  # class 3 absent from the truth too


def test_labels_outside_the_classes_fall_back_to_sklearn():
    _case([0, 1, 2, 2, 1], [0, 1, 1, 2, 0], [0, 1, 2, 5])
    _case(["a", "b", "c"], ["a", "b", "b"], ["a", "b", "z"])
