"""What ``classify`` / ``regress`` return: Databricks AutoML's summary shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialInfo:
    """One trial: its run, its model (``models:/m-...``), params, validation and test metrics."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING
    model_description: str
    run_id: str | None
    model_path: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    duration: float | None = None
    error: str | None = None

    def load_model(self) -> Any:
        """The fitted pipeline (preprocessing + model)."""
        from modelyard.exceptions import ResourceDoesNotExist

        if not self.model_path:
            raise ResourceDoesNotExist(f"trial {self.number} ({self.state}) has no model")
        import modelyard.sklearn

        return modelyard.sklearn.load_model(self.model_path)


@dataclass
class AutoMLSummary:
    experiment_id: str
    parent_run_id: str
    study_id: str
    primary_metric: str
    best_trial: TrialInfo
    trials: list[TrialInfo] = field(default_factory=list)  # the leaderboard: best first
    best_model_path: str | None = None  # the best configuration refitted on train+validation (parent run)
    best_model_metrics: dict[str, float] | None = None  # its test metrics
    registered_model_version: str | None = None
    tracking_seconds: float = 0.0  # time the search waited on logging, for the overhead figure
    background_tracking_seconds: float = 0.0  # time the model writer's thread spent writing, beside the trials
    wall_seconds: float = 0.0
    tracking_parts: dict[str, float] = field(default_factory=dict)  # tracking_seconds: prepare / trials / drain / finish
    refit: str = ""  # "refitted on train+validation ...", or why the best trial's own model was kept

    @property
    def experiment(self) -> Any:
        import modelyard

        return modelyard.get_experiment(self.experiment_id)

    def leaderboard(self) -> Any:
        """The trials as a pandas DataFrame, best first."""
        import pandas as pd

        return pd.DataFrame([leaderboard_row(t) for t in self.trials])


def leaderboard_row(t: TrialInfo) -> dict:
    row: dict = {"trial": t.number, "model": t.model_description, "state": t.state, "run_id": t.run_id}
    row.update({k: v for k, v in t.metrics.items() if k.startswith(("val_", "test_"))})
    row["duration_s"] = t.duration
    row["model_path"] = t.model_path
    row["params"] = {k: v for k, v in t.params.items() if k != "model"}
    return row
