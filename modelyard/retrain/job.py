"""The ``retrain:`` job type of the workflows (``modelyard.jobs``): one section of a job definition
that becomes one task, run like any other (``module:function`` in its own process, with the
job's schedule, triggers, retries and run history).

    name: churn-retrain
    schedule: {cron: "0 4 * * 1"}
    triggers: [{on: feature_table_updated, table: churn.customer_features}]
    retrain:
      model: churn
      training_set: {labels: "sql:SELECT customer_id, event_ts, churned FROM labels",
                     features: [churn.customer_features]}
      train: {automl: {primary_metric: roc_auc, timeout_minutes: 10}}   # or {run: mypkg.train:fit}
      holdout: {last_days: 14}
      gates: {min: {roc_auc: 0.80}, max_drop: {roc_auc: 0.0}, max_p95_latency_ms: 5, max_model_mb: 200}
      approval: none                                                    # or manual

The section's fields are the task's parameters (``jobs run --param approval=manual`` overrides
one); ``key``, ``depends_on``, ``retries``, ``timeout_seconds`` and ``env`` are the task's own.
The task returns the outcome (``RetrainResult.to_dict()``), which the job run keeps.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from modelyard.exceptions import InvalidParameterValue
from modelyard.retrain.gates import Gates

RUN = "modelyard.retrain.job:run"
TASK_FIELDS = ("key", "depends_on", "retries", "timeout_seconds", "env")


class TrainingSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: str
    labels_uri: str | None = None
    features: list[str | dict[str, Any]] = []
    label: str | None = None
    timestamp_col: str | None = None
    exclude_columns: list[str] = []


class Train(BaseModel):
    model_config = ConfigDict(extra="forbid")

    automl: dict[str, Any] | None = None
    run: str | None = None

    @field_validator("run")
    @classmethod
    def _run(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError(f"{value!r} is not 'module:function'")
        return value


class Section(BaseModel):
    """The checked ``retrain:`` section (the task's parameters)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_set: TrainingSet
    train: Train = Train(automl={})
    holdout: dict[str, float] = {"fraction": 0.2}
    gates: dict[str, Any] = {}
    approval: Literal["none", "manual"] = "none"
    model_type: Literal["classifier", "regressor"] | None = None
    experiment: str | None = None

    @field_validator("gates")
    @classmethod
    def _gates(cls, value: dict[str, Any]) -> dict[str, Any]:
        Gates.from_dict(value)
        return value

    @field_validator("holdout")
    @classmethod
    def _holdout(cls, value: dict[str, float]) -> dict[str, float]:
        if len(value) != 1 or not set(value) <= {"last_days", "fraction"}:
            raise ValueError("holdout is {last_days: N} or {fraction: F}")
        return value

    def trainer(self) -> Any:
        """What ``retrain.retrain`` takes as ``train``: AutoML options or 'module:function'."""
        if self.train.run and self.train.automl is not None:
            raise InvalidParameterValue("retrain.train: give automl or run, not both")
        return self.train.run or dict(self.train.automl or {})


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(f"retrain.{where}: {msg}" if where else msg)
    return "; ".join(parts)


def check(params: dict[str, Any]) -> Section:
    try:
        return Section.model_validate(params)
    except ValidationError as exc:
        raise InvalidParameterValue(f"Invalid job definition: {_describe(exc)}") from None
    except InvalidParameterValue as exc:
        raise InvalidParameterValue(f"Invalid job definition: retrain: {exc.message}") from None


def expand(section: dict[str, Any], job: dict[str, Any]) -> list[dict[str, Any]]:
    """The one task a ``retrain:`` section stands for (``plugins.JOB_TYPES``, ``jobs/kinds.py``)."""
    if not isinstance(section, dict):
        raise InvalidParameterValue("must be a mapping")
    task = {k: section[k] for k in TASK_FIELDS if k in section}
    params = {k: v for k, v in section.items() if k not in TASK_FIELDS}
    checked = check(params)
    task.setdefault("key", "retrain")
    task["run"] = RUN
    task["params"] = checked.model_dump(mode="json", exclude_none=True)
    return [task]


def run(**params: Any) -> dict[str, Any]:
    """The task: load the training set, cut the holdout, retrain (see ``retrain.pipeline``)."""
    import modelyard
    from modelyard.retrain import source
    from modelyard.retrain.pipeline import retrain

    section = check({k: v for k, v in params.items() if k in Section.model_fields})
    rows = source.load(section.training_set.model_dump(exclude_none=True), modelyard.get_tracking_uri())
    train_frame, holdout_frame = source.split_holdout(rows, section.holdout)
    model_type = section.model_type or infer_model_type(train_frame[rows.label])
    result = retrain(
        section.model, train_frame, holdout_frame, target_col=rows.label, model_type=model_type,
        train=section.trainer(), gates=section.gates, approval=section.approval,
        experiment_name=section.experiment,
    )
    return result.to_dict()


def infer_model_type(target: Any) -> str:
    """A float target with many values is a regression; anything else a classification."""
    import pandas as pd

    if pd.api.types.is_float_dtype(target) and target.nunique() > 20:
        return "regressor"
    return "classifier"


def template(model: str, model_type: str = "classifier", cron: str = "0 4 * * 1") -> dict[str, Any]:
    """The job definition ``modelyard retrain init MODEL`` writes: weekly, AutoML, a 14-day holdout,
    the champion's primary metric gated (never worse than the champion), promotion without a person."""
    metric = "roc_auc" if model_type == "classifier" else "r2"
    search = "classify" if model_type == "classifier" else "regress"
    return {
        "name": f"{model}-retrain",
        "description": f"Retrain {model}: AutoML ({search}) on fresh data; @champion moves when the gates pass",
        "schedule": {"cron": cron},
        "triggers": [],
        "retrain": {
            "model": model,
            "model_type": model_type,
            "training_set": {"labels": f"sql:SELECT * FROM {model.replace('-', '_').replace('.', '_')}_labels",
                             "features": []},
            "train": {"automl": {"primary_metric": metric, "timeout_minutes": 10}},
            "holdout": {"last_days": 14},
            "gates": {"max_drop": {metric: 0.0}, "max_p95_latency_ms": 50, "max_model_mb": 200},
            "approval": "none",
        },
    }
