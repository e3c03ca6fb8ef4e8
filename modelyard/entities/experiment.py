"""Experiments and their tags."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    key: str
    value: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out: dict = {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.last_update_time is not None:
            out["last_update_time"] = self.last_update_time
        if self.creation_time is not None:
            out["creation_time"] = self.creation_time
        if self.tags:
            out["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Experiment:
        return cls(
            experiment_id=str(d["experiment_id"]),
            name=d.get("name", ""),
            artifact_location=d.get("artifact_location", ""),
            lifecycle_stage=d.get("lifecycle_stage", "active"),
            creation_time=_opt_int(d.get("creation_time")),
            last_update_time=_opt_int(d.get("last_update_time")),
            tags={t["key"]: t.get("value", "") for t in d.get("tags", [])},
        )


def _opt_int(v) -> int | None:
    return None if v is None else int(v)
