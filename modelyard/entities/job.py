"""Workflow entities: a deployed job, one run of it, one attempt of one task (no I/O)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Job run and task run states. A task run that never ran because a task it depends on failed
# is UPSTREAM_FAILED; DISPATCHED is a task handed to the Celery broker, not yet started.
QUEUED, DISPATCHED, RUNNING = "QUEUED", "DISPATCHED", "RUNNING"
SUCCEEDED, FAILED, CANCELLED, UPSTREAM_FAILED = "SUCCEEDED", "FAILED", "CANCELLED", "UPSTREAM_FAILED"
ACTIVE = (QUEUED, DISPATCHED, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED, UPSTREAM_FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    name: str
    spec: dict[str, Any]
    paused: bool
    created_at: int
    updated_at: int
    next_fire_at: int | None = None
    created_by: str | None = None
    last_run: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class TaskRun:
    task_run_id: str
    job_run_id: str
    task_key: str
    attempt: int
    status: str
    executor: str
    created_at: int
    not_before: int
    started_at: int | None = None
    ended_at: int | None = None
    heartbeat_at: int | None = None
    owner: str | None = None
    result: Any = None
    error: str | None = None
    exit_code: int | None = None
    tracking_run_id: str | None = None
    log_path: str | None = None

    @property
    def duration_ms(self) -> int | None:
        return self.ended_at - self.started_at if self.started_at and self.ended_at else None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        return out


@dataclass(frozen=True, slots=True)
class JobRun:
    job_run_id: str
    job_id: str
    job_name: str
    status: str
    trigger: str
    params: dict[str, Any]
    created_at: int
    trigger_detail: dict[str, Any] | None = None
    due_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    cancel_requested: bool = False
    created_by: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    tasks: list[TaskRun] = field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        return self.ended_at - self.started_at if self.started_at and self.ended_at else None

    def latest(self) -> dict[str, TaskRun]:
        """The newest attempt of each task."""
        out: dict[str, TaskRun] = {}
        for t in sorted(self.tasks, key=lambda t: t.attempt):
            out[t.task_key] = t
        return out

    def to_dict(self, with_spec: bool = False) -> dict[str, Any]:
        out = {
            k: v
            for k, v in asdict(self).items()
            if v is not None and k not in ("tasks", "spec")
        }
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        out["tasks"] = [t.to_dict() for t in self.tasks]
        if with_spec:
            out["spec"] = self.spec
        return out


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None
