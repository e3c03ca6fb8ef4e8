"""The default evaluator: predictions, MLflow's standard metric names per model type, the per-row table.

classifier: ``example_count``, ``accuracy_score``, ``precision_score``, ``recall_score``,
``f1_score`` (binary for two classes, weighted otherwise), ``log_loss``, ``roc_auc`` and
``precision_recall_auc`` (when the model gives probabilities), and for two classes
``true_negatives`` / ``false_positives`` / ``false_negatives`` / ``true_positives``.
regressor: ``example_count``, ``mean_absolute_error``, ``mean_squared_error``,
``root_mean_squared_error``, ``sum_on_target``, ``mean_on_target``, ``r2_score``, ``max_error``,
``mean_absolute_percentage_error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL_TYPES = ("classifier", "regressor")
LOWER_IS_BETTER = {
    "log_loss", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "max_error",
    "mean_absolute_percentage_error", "false_positives", "false_negatives",
}


@dataclass
class Predictions:
    y_true: Any
    y_pred: Any
    proba: Any = None  # (n, k) in ``classes`` order, or None
    classes: list | None = None
    pos_label: Any = None
    confusion: Any = None  # confusion(p), once computed


def _raw(model: Any) -> Any:
    getter = getattr(model, "get_raw_model", None)
    if callable(getter):
        try:
            return getter()
        except Exception:  # a pyfunc without a native object
            return None
    return model


def predict(model: Any, X: Any, y_true: Any, model_type: str, pos_label: Any = None) -> Predictions:
    import numpy as np

    y_pred = np.asarray(model.predict(X))
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if model_type == "regressor":
        return Predictions(np.asarray(y_true, dtype=float), y_pred.astype(float))
    raw = _raw(model)
    proba, classes = None, None
    if raw is not None and callable(getattr(raw, "predict_proba", None)) and hasattr(raw, "classes_"):
        try:
            proba = np.asarray(raw.predict_proba(X), dtype=float)
            classes = [c.item() if hasattr(c, "item") else c for c in raw.classes_]
        except Exception:  # e.g. the raw model wants another input shape: metrics without probabilities
            proba = None
    if classes is None:
        classes = sorted({*np.unique(y_true).tolist(), *np.unique(y_pred).tolist()})
    if pos_label is None and len(classes) == 2:
        pos_label = 1 if 1 in classes else (True if True in classes else classes[-1])
    return Predictions(np.asarray(y_true), y_pred, proba, classes, pos_label)


def confusion(p: Predictions) -> Any:
    """The confusion matrix over ``p.classes`` (rows: true label), computed once per predictions
    (the metrics and the confusion-matrix plot share it)."""
    if p.confusion is None:
        from sklearn import metrics as m

        p.confusion = m.confusion_matrix(p.y_true, p.y_pred, labels=p.classes)
    return p.confusion


def _counted_metrics(p: Predictions) -> dict[str, float] | None:
    """Accuracy, precision, recall and F1 (binary, or support-weighted) from the one confusion
    matrix, as sklearn defines them with ``zero_division=0``; None when some label falls outside
    ``p.classes`` (the matrix does not count that row)."""
    import numpy as np

    cm = confusion(p).astype(float)
    total = float(len(p.y_true))
    if cm.sum() != total or total == 0:
        return None
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)

    def ratio(num: Any, den: Any) -> Any:
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    precision, recall, f1 = ratio(tp, predicted), ratio(tp, actual), ratio(2 * tp, predicted + actual)
    if len(p.classes) == 2:
        i = p.classes.index(p.pos_label)
        scores = precision[i], recall[i], f1[i]
    else:
        weights = actual / actual.sum()
        scores = (precision * weights).sum(), (recall * weights).sum(), (f1 * weights).sum()
    out = {"example_count": total, "accuracy_score": float(tp.sum() / total)}
    out.update(zip(("precision_score", "recall_score", "f1_score"), (float(v) for v in scores), strict=True))
    return out


def classifier_metrics(p: Predictions) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    binary = len(p.classes) == 2
    kw: dict = {"pos_label": p.pos_label, "average": "binary"} if binary else {"average": "weighted"}
    out = _counted_metrics(p) or {
        "example_count": float(len(p.y_true)),
        "accuracy_score": float(m.accuracy_score(p.y_true, p.y_pred)),
        "precision_score": float(m.precision_score(p.y_true, p.y_pred, zero_division=0, **kw)),
        "recall_score": float(m.recall_score(p.y_true, p.y_pred, zero_division=0, **kw)),
        "f1_score": float(m.f1_score(p.y_true, p.y_pred, zero_division=0, **kw)),
    }
    if binary:
        negative = next(c for c in p.classes if c != p.pos_label)
        (tn, fp), (fn, tp) = confusion(p)[np.ix_(*[[p.classes.index(negative), p.classes.index(p.pos_label)]] * 2)]
        out.update(true_negatives=float(tn), false_positives=float(fp), false_negatives=float(fn), true_positives=float(tp))
    if p.proba is not None:
        proba = p.proba / np.clip(p.proba.sum(axis=1, keepdims=True), 1e-15, None)
        out["log_loss"] = float(m.log_loss(p.y_true, np.clip(proba, 1e-15, 1), labels=p.classes))
        try:
            if binary:
                positive = p.y_true == p.pos_label
                score = proba[:, p.classes.index(p.pos_label)]
                out["roc_auc"] = float(m.roc_auc_score(positive, score))
                out["precision_recall_auc"] = float(m.average_precision_score(positive, score))
            else:
                out["roc_auc"] = float(m.roc_auc_score(p.y_true, proba, multi_class="ovr", average="weighted", labels=p.classes))
        except ValueError:  # one class only in y_true
            pass
    return out


def regressor_metrics(p: Predictions) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    mse = float(m.mean_squared_error(p.y_true, p.y_pred))
    return {
        "example_count": float(len(p.y_true)),
        "mean_absolute_error": float(m.mean_absolute_error(p.y_true, p.y_pred)),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": float(np.sum(p.y_true)),
        "mean_on_target": float(np.mean(p.y_true)),
        "r2_score": float(m.r2_score(p.y_true, p.y_pred)),
        "max_error": float(m.max_error(p.y_true, p.y_pred)),
        "mean_absolute_percentage_error": float(m.mean_absolute_percentage_error(p.y_true, p.y_pred)),
    }


def metrics_for(p: Predictions, model_type: str) -> dict[str, float]:
    return classifier_metrics(p) if model_type == "classifier" else regressor_metrics(p)


def results_table(X: Any, p: Predictions, target_name: str) -> Any:
    """The per-row table: the inputs, the target, the prediction (and the positive class's
    probability for a binary classifier)."""
    import pandas as pd

    table = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    table.columns = [str(c) for c in table.columns]
    table[target_name] = p.y_true
    table["prediction"] = p.y_pred
    if p.proba is not None and p.classes and len(p.classes) == 2:
        table["probability"] = p.proba[:, p.classes.index(p.pos_label)]
    return table.reset_index(drop=True)
