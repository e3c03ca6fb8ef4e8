"""Logged models (MLflow 3): a model with its own id, artifacts, params, tags and metrics.

A logged model lives in an experiment, optionally comes from a run (``source_run_id``), and keeps
its artifacts outside the run folder, at ``<experiment artifact_location>/models/<model_id>/artifacts``.
It is created PENDING and finalized READY (or UPLOAD_FAILED) once its files are uploaded.
``to_dict``/``from_dict`` use MLflow's JSON shape: ``{"info": {...}, "data": {"params", "metrics"}}``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from modelyard.entities.run import json_float

MODEL_ID_PREFIX = "m-"


class LoggedModelStatus(enum.StrEnum):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: LoggedModelStatus | str | int) -> LoggedModelStatus:
        """``"LOGGED_MODEL_READY"``, ``"READY"`` (any case) or the proto number (1..3)."""
        from modelyard.exceptions import InvalidParameterValue

        if isinstance(value, LoggedModelStatus):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            numbered = {1: cls.PENDING, 2: cls.READY, 3: cls.UPLOAD_FAILED}
            if value in numbered:
                return numbered[value]
        elif isinstance(value, str):
            name = value.strip().upper()
            if name.isdigit():
                return cls.parse(int(name))
            for status in cls:
                if name in (status.value, status.name):
                    return status
        raise InvalidParameterValue(
            f"Invalid logged model status {value!r}: expected one of {', '.join(s.value for s in cls)}"
        )


@dataclass(frozen=True, slots=True)
class LoggedModelTag:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class LoggedModelParameter:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class LoggedModelMetric:
    """One metric point linked to a logged model (MLflow's Metric with ``model_id`` set)."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def to_dict(self) -> dict:
        out: dict = {
            "key": self.key,
            "value": json_float(self.value),
            "timestamp": self.timestamp,
            "step": self.step,
        }
        for name in ("dataset_name", "dataset_digest", "model_id", "run_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> LoggedModelMetric:
        return cls(
            key=d["key"],
            value=float(d.get("value", 0.0)),
            timestamp=int(d.get("timestamp", 0)),
            step=int(d.get("step", 0)),
            run_id=d.get("run_id"),
            model_id=d.get("model_id"),
            dataset_name=d.get("dataset_name"),
            dataset_digest=d.get("dataset_digest"),
        )

    def __eq__(self, other: object) -> bool:  # NaN == NaN for round-trip checks
        if not isinstance(other, LoggedModelMetric):
            return NotImplemented
        same_value = self.value == other.value or (math.isnan(self.value) and math.isnan(other.value))
        return same_value and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple:
        return (
            self.key,
            self.timestamp,
            self.step,
            self.run_id,
            self.model_id,
            self.dataset_name,
            self.dataset_digest,
        )


@dataclass(frozen=True, slots=True)
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    creator_id: int | None = None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[LoggedModelMetric, ...] = ()

    @property
    def artifact_uri(self) -> str:  # MLflow's wire name for artifact_location
        return self.artifact_location

    def to_dict(self) -> dict:
        info: dict = {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "creation_timestamp_ms": self.creation_timestamp,
            "last_updated_timestamp_ms": self.last_updated_timestamp,
            "artifact_uri": self.artifact_location,
            "status": str(self.status),
        }
        optional = {
            "creator_id": self.creator_id,
            "model_type": self.model_type,
            "source_run_id": self.source_run_id,
            "status_message": self.status_message,
        }
        info.update({k: v for k, v in optional.items() if v is not None})
        if self.tags:
            info["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        data: dict = {}
        if self.params:
            data["params"] = [{"key": k, "value": v} for k, v in self.params.items()]
        if self.metrics:
            data["metrics"] = [m.to_dict() for m in self.metrics]
        return {"info": info, "data": data}

    @classmethod
    def from_dict(cls, d: dict) -> LoggedModel:
        info = d.get("info") or {}
        data = d.get("data") or {}
        creator = info.get("creator_id")
        return cls(
            model_id=info["model_id"],
            experiment_id=str(info.get("experiment_id", "")),
            name=info.get("name", ""),
            artifact_location=info.get("artifact_uri", ""),
            creation_timestamp=int(info.get("creation_timestamp_ms", 0)),
            last_updated_timestamp=int(info.get("last_updated_timestamp_ms", 0)),
            status=LoggedModelStatus.parse(info.get("status", LoggedModelStatus.PENDING)),
            model_type=info.get("model_type"),
            source_run_id=info.get("source_run_id"),
            status_message=info.get("status_message"),
            creator_id=None if creator is None else int(creator),
            tags={t["key"]: t.get("value", "") for t in info.get("tags", [])},
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            metrics=tuple(LoggedModelMetric.from_dict(m) for m in data.get("metrics", [])),
        )
