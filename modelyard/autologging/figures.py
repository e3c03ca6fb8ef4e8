"""Charts logged by autologging: a confusion matrix and feature-importance bars.

Drawn on a bare ``matplotlib.figure.Figure`` (no ``pyplot``): no global figure state, no GUI
backend picked behind the user's back, safe from any thread. Returns None when matplotlib
is not installed (the ``figures`` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

MAX_CONFUSION_CLASSES = 50
MAX_IMPORTANCE_BARS = 30


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.debug("matplotlib is not installed: no chart")
        return None
    return Figure(figsize=(width, height), dpi=100)  # no layout engine: 3x faster, margins set by hand


def confusion_matrix(matrix: Any, labels: Sequence[Any], title: str = "Confusion matrix (training data)") -> Any:
    """A labelled heat map of ``matrix`` (rows: true label, columns: predicted label)."""
    n = len(labels)
    if n == 0 or n > MAX_CONFUSION_CLASSES:
        return None
    side = min(4.0 + 0.4 * n, 16.0)
    fig = _figure(side, side)
    if fig is None:
        return None
    ticks = list(range(n))
    names = [str(label) for label in labels]
    margin = min(0.4, 0.12 + 0.012 * max(len(name) for name in names))
    fig.subplots_adjust(left=margin, bottom=margin, right=0.95, top=0.92)
    ax = fig.subplots()
    image = ax.imshow(matrix, interpolation="nearest", cmap="Blues")
    if n > 20:  # too many cells to annotate: a colour scale instead
        fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names, xlabel="Predicted label", ylabel="True label", title=title)
    if n <= 20:
        threshold = float(matrix.max()) / 2.0 if matrix.size else 0.0
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                ax.text(j, i, f"{value}", ha="center", va="center", color="white" if value > threshold else "black")
    return fig


def feature_importance(names: Sequence[str], values: Sequence[float], importance_type: str) -> Any:
    """Horizontal bars of the largest importances, largest on top."""
    pairs = sorted(zip(names, values, strict=False), key=lambda p: p[1], reverse=True)[:MAX_IMPORTANCE_BARS]
    if not pairs:
        return None
    pairs.reverse()
    fig = _figure(8.0, 1.5 + 0.3 * len(pairs))
    if fig is None:
        return None
    longest = max(len(str(p[0])) for p in pairs)
    fig.subplots_adjust(left=min(0.5, 0.08 + 0.011 * longest), right=0.95, bottom=0.6 / fig.get_figheight(), top=1 - 0.4 / fig.get_figheight())
    ax = fig.subplots()
    positions = list(range(len(pairs)))
    ax.barh(positions, [float(p[1]) for p in pairs], align="center", height=0.6)
    ax.set_yticks(positions)
    ax.set_yticklabels([str(p[0]) for p in pairs])
    ax.set_xlabel("Importance")
    ax.set_title(f"Feature importance ({importance_type})")
    return fig
