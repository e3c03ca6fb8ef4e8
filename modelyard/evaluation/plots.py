"""The evaluation's charts, drawn on bare matplotlib figures (no pyplot state): ROC and
precision-recall curves, the confusion matrix, the calibration curve (binary), residuals
(regression). Each returns None when matplotlib (extra ``figures``) is missing."""

from __future__ import annotations

from typing import Any

from modelyard.autologging import figures
from modelyard.evaluation import default
from modelyard.evaluation.default import Predictions


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    fig = figures._figure(6.0, 5.0)
    if fig is None:
        return None, None
    fig.subplots_adjust(left=0.13, bottom=0.12, right=0.95, top=0.92)
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig, ax


def _one_vs_rest(p: Predictions) -> list[tuple[str, Any, Any]]:
    import numpy as np

    if len(p.classes) == 2:
        return [(str(p.pos_label), p.y_true == p.pos_label, p.proba[:, p.classes.index(p.pos_label)])]
    return [(str(c), np.asarray(p.y_true) == c, p.proba[:, i]) for i, c in enumerate(p.classes[:10])]


def roc_curve(p: Predictions) -> Any:
    from sklearn import metrics as m

    fig, ax = _axes("ROC curve", "False positive rate", "True positive rate")
    if fig is None:
        return None
    for label, positive, score in _one_vs_rest(p):
        if positive.any() and not positive.all():
            fpr, tpr, _ = m.roc_curve(positive, score)
            ax.plot(fpr, tpr, label=f"{label} (AUC {m.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.legend(loc="lower right")
    return fig


def precision_recall_curve(p: Predictions) -> Any:
    from sklearn import metrics as m

    fig, ax = _axes("Precision-recall curve", "Recall", "Precision")
    if fig is None:
        return None
    for label, positive, score in _one_vs_rest(p):
        if positive.any():
            precision, recall, _ = m.precision_recall_curve(positive, score)
            ax.plot(recall, precision, label=f"{label} (AP {m.average_precision_score(positive, score):.3f})")
    ax.legend(loc="lower left")
    return fig


def confusion_matrix(p: Predictions) -> Any:
    return figures.confusion_matrix(default.confusion(p), p.classes, "Confusion matrix")


def calibration_curve(p: Predictions) -> Any:
    from sklearn.calibration import calibration_curve as curve

    fig, ax = _axes("Calibration curve", "Mean predicted probability", "Fraction of positives")
    if fig is None:
        return None
    label, positive, score = _one_vs_rest(p)[0]
    true_fraction, predicted = curve(positive, score, n_bins=10, strategy="quantile")
    ax.plot(predicted, true_fraction, marker="o", label=label)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.legend(loc="upper left")
    return fig


def residuals(p: Predictions) -> Any:
    fig, ax = _axes("Residuals", "Predicted value", "Residual (target - prediction)")
    if fig is None:
        return None
    ax.scatter(p.y_pred, p.y_true - p.y_pred, s=6, alpha=0.5)
    ax.axhline(0.0, color="grey", linestyle="--")
    return fig


def for_predictions(p: Predictions, model_type: str) -> dict[str, Any]:
    """``{artifact name: figure}`` of the plots that apply."""
    if model_type == "regressor":
        return {"residuals_plot": residuals(p)}
    out = {"confusion_matrix": confusion_matrix(p)}
    if p.proba is not None:
        out["roc_curve_plot"] = roc_curve(p)
        out["precision_recall_curve_plot"] = precision_recall_curve(p)
        if len(p.classes) == 2:
            out["calibration_curve_plot"] = calibration_curve(p)
    return {name: fig for name, fig in out.items() if fig is not None}
