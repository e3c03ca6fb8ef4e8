"""Runs and what is logged to them: metrics, params, tags, dataset inputs, model outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"key": self.key, "value": json_float(self.value), "timestamp": self.timestamp, "step": self.step}
        if self.run_id is not None:
            out["run_id"] = self.run_id
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Metric:
        return cls(
            key=d["key"],
            value=_float(d.get("value", 0.0)),
            timestamp=int(d.get("timestamp", 0)),
            step=int(d.get("step", 0)),
            run_id=d.get("run_id"),
        )

    def __eq__(self, other: object) -> bool:  # NaN == NaN for round-trip checks
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (math.isnan(self.value) and math.isnan(other.value))
        return (self.key, self.timestamp, self.step, self.run_id) == (
            other.key,
            other.timestamp,
            other.step,
            other.run_id,
        ) and same_value

    def __hash__(self) -> int:
        return hash((self.key, self.timestamp, self.step, self.run_id))


class MetricRows(Sequence[Metric]):
    """Points as plain ``(key, value, timestamp, step)`` tuples, read as ``Metric`` entities.

    A log-batch of 1,000 plain points would otherwise build 1,000 frozen dataclasses (about 3 µs
    each, more than the rest of the request's Python); the server's parser hands this over
    instead, a store that knows it reads ``rows`` directly, and everyone else iterates entities."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple[str, float, int, int]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [Metric(*r) for r in self.rows[index]]
        return Metric(*self.rows[index])

    def __iter__(self) -> Iterator[Metric]:
        return (Metric(*r) for r in self.rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MetricRows({len(self.rows)} points)"


def json_float(value: float) -> float | str:
    """Non-finite doubles as protobuf's JSON writes them: "NaN", "Infinity", "-Infinity"."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float(v) -> float:
    if isinstance(v, str):  # JSON renders NaN / Infinity as strings
        return float(v)
    return float(v)


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:  # MLflow's legacy name
        return self.run_id

    def to_dict(self) -> dict:
        out: dict = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
        }
        if self.start_time is not None:
            out["start_time"] = self.start_time
        if self.end_time is not None:
            out["end_time"] = self.end_time
        out["artifact_uri"] = self.artifact_uri
        out["lifecycle_stage"] = self.lifecycle_stage
        return out

    @classmethod
    def from_dict(cls, d: dict) -> RunInfo:
        return cls(
            run_id=d.get("run_id") or d["run_uuid"],
            experiment_id=str(d.get("experiment_id", "")),
            run_name=d.get("run_name", ""),
            user_id=d.get("user_id", ""),
            status=d.get("status", "RUNNING"),
            start_time=None if d.get("start_time") is None else int(d["start_time"]),
            end_time=None if d.get("end_time") is None else int(d["end_time"]),
            artifact_uri=d.get("artifact_uri", ""),
            lifecycle_stage=d.get("lifecycle_stage", "active"),
        )


@dataclass(frozen=True, slots=True)
class RunData:
    """Latest metric values, params and tags. ``metrics``/``params``/``tags`` are dicts, as in MLflow."""

    metric_objs: tuple[Metric, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return {m.key: m.value for m in self.metric_objs}

    def to_dict(self) -> dict:
        out: dict = {}
        if self.metric_objs:
            out["metrics"] = [m.to_dict() for m in self.metric_objs]
        if self.params:
            out["params"] = [{"key": k, "value": v} for k, v in self.params.items()]
        if self.tags:
            out["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> RunData:
        return cls(
            metric_objs=tuple(Metric.from_dict(m) for m in d.get("metrics", [])),
            params={p["key"]: p.get("value", "") for p in d.get("params", [])},
            tags={t["key"]: t.get("value", "") for t in d.get("tags", [])},
        )


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict:
        out = {"name": self.name, "digest": self.digest, "source_type": self.source_type, "source": self.source}
        if self.schema is not None:
            out["schema"] = self.schema
        if self.profile is not None:
            out["profile"] = self.profile
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Dataset:
        return cls(
            name=d["name"],
            digest=d["digest"],
            source_type=d.get("source_type", ""),
            source=d.get("source", ""),
            schema=d.get("schema"),
            profile=d.get("profile"),
        )


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """A dataset some run of an experiment used, in one context (``mlflow.data.context``: train,
    eval, ...; None when the input had none): what MLflow's ``experiments/search-datasets`` lists."""

    experiment_id: str
    name: str
    digest: str
    context: str | None = None

    def to_dict(self) -> dict:
        out = {"experiment_id": self.experiment_id, "name": self.name, "digest": self.digest}
        if self.context is not None:
            out["context"] = self.context
        return out

    @classmethod
    def from_dict(cls, d: dict) -> DatasetSummary:
        return cls(str(d["experiment_id"]), d["name"], d["digest"], d.get("context"))


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    def to_dict(self) -> dict:
        out: dict = {"dataset": self.dataset.to_dict()}
        if self.tags:
            out["tags"] = [t.to_dict() for t in self.tags]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> DatasetInput:
        return cls(
            dataset=Dataset.from_dict(d["dataset"]),
            tags=tuple(InputTag(t["key"], t.get("value", "")) for t in d.get("tags", [])),
        )


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[str, ...] = ()  # model ids

    def to_dict(self) -> dict:
        out: dict = {}
        if self.dataset_inputs:
            out["dataset_inputs"] = [d.to_dict() for d in self.dataset_inputs]
        if self.model_inputs:
            out["model_inputs"] = [{"model_id": m} for m in self.model_inputs]
        return out


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    model_id: str
    step: int = 0

    def to_dict(self) -> dict:
        return {"model_id": self.model_id, "step": self.step}


@dataclass(frozen=True, slots=True)
class RunOutputs:
    model_outputs: tuple[LoggedModelOutput, ...] = ()

    def to_dict(self) -> dict:
        if not self.model_outputs:
            return {}
        return {"model_outputs": [m.to_dict() for m in self.model_outputs]}


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dict(self) -> dict:
        return {
            "info": self.info.to_dict(),
            "data": self.data.to_dict(),
            "inputs": self.inputs.to_dict(),
            "outputs": self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Run:
        inputs = d.get("inputs") or {}
        outputs = d.get("outputs") or {}
        return cls(
            info=RunInfo.from_dict(d["info"]),
            data=RunData.from_dict(d.get("data") or {}),
            inputs=RunInputs(
                dataset_inputs=tuple(DatasetInput.from_dict(x) for x in inputs.get("dataset_inputs", [])),
                model_inputs=tuple(x["model_id"] for x in inputs.get("model_inputs", [])),
            ),
            outputs=RunOutputs(
                model_outputs=tuple(
                    LoggedModelOutput(x["model_id"], int(x.get("step", 0)))
                    for x in outputs.get("model_outputs", [])
                )
            ),
        )
