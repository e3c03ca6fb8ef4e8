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

from modelyard.retrain.gates import GateResult, Gates
from modelyard.retrain.pipeline import RetrainResult, approve, retrain

__all__ = ["GateResult", "Gates", "RetrainResult", "approve", "retrain"]
