"""Retraining with champion/challenger gates, as a Python API (a job type wraps it elsewhere).

    from modelyard import retrain
    result = retrain.retrain("churn", train_df, holdout_df, target_col="churned",
                             train={"primary_metric": "roc_auc", "timeout_minutes": 10},   # or "mypkg.train:fit"
                             gates={"min": {"roc_auc": 0.8}, "max_drop": {"roc_auc": 0.0},
                                    "max_p95_latency_ms": 5, "max_model_mb": 200},
                             approval="none")                                           # or "manual"
    result.promoted, result.reason, result.failed_gates
    retrain.approve("churn", result.challenger_version)        # with approval="manual"
"""


from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.retrain.gates import GateResult, Gates
    from modelyard.retrain.pipeline import RetrainResult, approve, retrain

__all__ = ["GateResult", "Gates", "RetrainResult", "approve", "retrain"]

# Imported when first used: the tracking server imports this package for its retraining history
# (``modelyard.retrain.service``), which needs neither the gates nor the pipeline (nor the model
# evaluation and MLmodel modules they import).
_LAZY = {
    "GateResult": "modelyard.retrain.gates",
    "Gates": "modelyard.retrain.gates",
    "RetrainResult": "modelyard.retrain.pipeline",
    "approve": "modelyard.retrain.pipeline",
    "retrain": "modelyard.retrain.pipeline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
