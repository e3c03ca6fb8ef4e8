"""The metrics an AutoML search can optimise, computed the same way for every trial.

Names follow Databricks AutoML's ``primary_metric`` values. Classification: ``f1`` (binary F1 of
``pos_label``; weighted over classes when there are more than two), ``accuracy``, ``precision``,
``recall``, ``roc_auc`` (one-vs-rest, weighted, for more than two classes), ``log_loss``.
Regression: ``r2``, ``rmse``, ``mse``, ``mae``.
"""

from __future__ import annotations

from typing import Any

from modelyard.exceptions import InvalidParameterValue

CLASSIFICATION = {"f1": True, "accuracy": True, "precision": True, "recall": True, "roc_auc": True, "log_loss": False}
REGRESSION = {"r2": True, "rmse": False, "mse": False, "mae": False}
DEFAULT_CLASSIFICATION = "f1"
DEFAULT_REGRESSION = "r2"


def check_metric(metric: str | None, classification: bool) -> str:
    table = CLASSIFICATION if classification else REGRESSION
    metric = metric or (DEFAULT_CLASSIFICATION if classification else DEFAULT_REGRESSION)
    if metric not in table:
        kind = "classify" if classification else "regress"
        raise InvalidParameterValue(f"primary_metric {metric!r} is not supported by {kind}: use one of {sorted(table)}")
    return metric


def greater_is_better(metric: str, classification: bool) -> bool:
    return (CLASSIFICATION if classification else REGRESSION)[metric]


def classification_metrics(y_true: Any, y_pred: Any, proba: Any, classes: list, pos_label: Any) -> dict[str, float]:
    """Every classification metric; ``proba`` columns are in ``classes`` order (or None)."""
    import numpy as np
    from sklearn import metrics as m

    binary = len(classes) == 2
    out = {"accuracy": float(m.accuracy_score(y_true, y_pred))}
    if binary:
        kw: dict = {"pos_label": pos_label, "average": "binary", "zero_division": 0}
    else:
        kw = {"average": "weighted", "zero_division": 0}
    out["f1"] = float(m.f1_score(y_true, y_pred, **kw))
    out["precision"] = float(m.precision_score(y_true, y_pred, **kw))
    out["recall"] = float(m.recall_score(y_true, y_pred, **kw))
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-15, None)  # float32 rounding
        present = set(np.unique(y_true))
        try:
            if binary:
                column = classes.index(pos_label)
                out["roc_auc"] = float(m.roc_auc_score(np.asarray(y_true) == pos_label, proba[:, column]))
            elif present == set(classes):
                out["roc_auc"] = float(m.roc_auc_score(y_true, proba, multi_class="ovr", average="weighted", labels=classes))
        except ValueError:  # a single class in y_true: undefined
            pass
        out["log_loss"] = float(m.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=classes))
    return out


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    mse = float(m.mean_squared_error(y_true, y_pred))
    return {
        "r2": float(m.r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(mse)),
        "mse": mse,
        "mae": float(m.mean_absolute_error(y_true, y_pred)),
    }


def primary_value(metric: str, y_true: Any, output: Any, classes: list | None, pos_label: Any) -> float:
    """One metric of ``output`` (class probabilities in ``classes`` order, or predictions, when
    ``classes`` is None): what the ensemble selection computes hundreds of times, so without the
    rest of ``classification_metrics``."""
    import numpy as np
    from sklearn import metrics as m

    if classes is None:
        if metric == "r2":
            return float(m.r2_score(y_true, output))
        return regression_metrics(y_true, output)[metric]
    if metric == "log_loss":
        proba = np.clip(output / np.clip(output.sum(axis=1, keepdims=True), 1e-15, None), 1e-15, 1.0)
        return float(m.log_loss(y_true, proba, labels=classes))
    if metric == "roc_auc" and len(classes) == 2:
        return float(m.roc_auc_score(np.asarray(y_true) == pos_label, output[:, classes.index(pos_label)]))
    predicted = np.asarray(classes, dtype=object)[output.argmax(axis=1)]
    if metric == "accuracy":
        return float(np.mean(predicted == np.asarray(y_true, dtype=object)))
    return classification_metrics(y_true, list(predicted), output, classes, pos_label)[metric]
