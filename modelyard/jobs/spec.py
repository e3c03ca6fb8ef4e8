"""The job model: what a YAML file (or the Python API) declares, checked once at deploy.

A job is a DAG of tasks. Each task runs a Python callable (``run: "module:function"`` with
``params``) or a command (``run: ["python", "train.py", "--days", "${days}"]``), after the tasks
it ``depends_on``. Deploy refuses, with a message naming the field: unknown fields, a dependency
on a task that does not exist, a cycle (``graphlib`` finds it), a bad cron expression or time
zone, and a catch-up policy other than none / latest / all.
"""

from __future__ import annotations

import graphlib
import json
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelyard.exceptions import InvalidParameterValue

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
TRIGGER_KINDS = ("model_version_created", "alias_moved", "feature_table_updated", "file_arrived", "webhook", "event")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retries(_Strict):
    max: int = Field(0, ge=0, le=100)
    backoff_seconds: float = Field(0.0, ge=0, le=86400)


class Schedule(_Strict):
    cron: str
    timezone: str = "UTC"
    catch_up: Literal["none", "latest", "all"] = "latest"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Trigger(_Strict):
    """An event that starts a run. ``on`` is the kind; the other fields select which events:
    ``model``/``alias`` (registry events), ``table`` (feature_table_updated), ``path`` and
    ``pattern`` (file_arrived), ``kind``/``key`` (any published event), ``secret`` (webhook)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare ``on:`` key as the boolean True
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    on: Literal[TRIGGER_KINDS]  # type: ignore[valid-type]
    model: str | None = None
    alias: str | None = None
    table: str | None = None
    path: str | None = None
    pattern: str = "*"
    kind: str | None = None
    key: str | None = None
    secret: str | None = None


class Task(_Strict):
    key: str
    run: str | list[str]
    params: dict[str, Any] = {}
    depends_on: list[str] = []
    retries: Retries = Retries()
    timeout_seconds: float | None = Field(None, gt=0)
    env: dict[str, str] = {}

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError(f"{value!r} is not a task key (letters, digits, _ and -)")
        return value

    @field_validator("run")
    @classmethod
    def _run(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str) and not CALLABLE.match(value):
            raise ValueError(f"{value!r} is neither 'module:function' nor a command list")
        if isinstance(value, list) and not value:
            raise ValueError("a command list needs at least the program")
        return value

    @property
    def is_command(self) -> bool:
        return isinstance(self.run, list)


class Notify(_Strict):
    on_failure: list[str] = []
    on_success: list[str] = []
    secret: str | None = None


class JobSpec(_Strict):
    name: str
    description: str | None = None
    schedule: Schedule | None = None
    triggers: list[Trigger] = []
    parameters: dict[str, Any] = {}
    max_concurrent_runs: int = Field(1, ge=1, le=1000)
    executor: Literal["local", "celery"] | None = None
    experiment: str | None = None
    tasks: list[Task]
    notify: Notify = Notify()
    paused: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} is not a job name (letters, digits, _ . and -)")
        return value

    def task(self, key: str) -> Task:
        for t in self.tasks:
            if t.key == key:
                return t
        raise InvalidParameterValue(f"Job {self.name!r} has no task {key!r}")

    def order(self) -> list[str]:
        """The task keys in an order that respects ``depends_on``."""
        return list(graphlib.TopologicalSorter({t.key: t.depends_on for t in self.tasks}).static_order())

    def dependents(self, key: str) -> list[str]:
        return [t.key for t in self.tasks if key in t.depends_on]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def params_for(self, key: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """The parameters a task sees: the job's, then the task's, then the run's overrides of
        either (an override names a job parameter or a task parameter)."""
        task = self.task(key)
        merged = {**self.parameters, **task.params}
        merged.update({k: v for k, v in overrides.items() if k in merged})
        return merged

    def check_overrides(self, overrides: dict[str, Any]) -> None:
        known = set(self.parameters).union(*(t.params for t in self.tasks))
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InvalidParameterValue(
                f"Unknown parameter(s) {', '.join(unknown)} for job {self.name!r}: it knows {', '.join(sorted(known)) or 'none'}"
            )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def parse(data: dict[str, Any] | str) -> JobSpec:
    """A checked JobSpec from a mapping or YAML/JSON text; InvalidParameterValue names what is wrong."""
    if isinstance(data, str):
        import yaml

        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise InvalidParameterValue(f"The job definition is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameterValue("A job definition is a mapping with at least 'name' and 'tasks'")
    data = _expand_job_types(data)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameterValue(f"Invalid job definition: {_describe(exc)}") from None
    _check_graph(spec)
    return spec


def _expand_job_types(data: dict[str, Any]) -> dict[str, Any]:
    """A section named by a job type (``retrain:``, see ``plugins.JOB_TYPES``) becomes one more
    task of the job, made by the type's expand function; the other fields are untouched."""
    from modelyard.plugins import job_types, load_object

    kinds = job_types()
    present = [k for k in data if isinstance(k, str) and k in kinds]
    if not present:
        return data
    out = {k: v for k, v in data.items() if k not in present}
    tasks = list(out.get("tasks") or [])
    for kind in present:
        section = data[kind]
        if not isinstance(section, dict):
            raise InvalidParameterValue(f"Invalid job definition: {kind}: must be a mapping")
        tasks.append(load_object(kinds[kind])(section, data))
    out["tasks"] = tasks
    return out


def _check_graph(spec: JobSpec) -> None:
    if not spec.tasks:
        raise InvalidParameterValue(f"Job {spec.name!r} has no tasks")
    keys = [t.key for t in spec.tasks]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise InvalidParameterValue(f"Job {spec.name!r}: task key(s) used twice: {', '.join(dupes)}")
    for t in spec.tasks:
        unknown = [d for d in t.depends_on if d not in keys]
        if unknown:
            raise InvalidParameterValue(
                f"Job {spec.name!r}: task {t.key!r} depends on unknown task(s) {', '.join(map(repr, unknown))}"
            )
    try:
        spec.order()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise InvalidParameterValue(f"Job {spec.name!r}: the tasks' depends_on form a cycle: {cycle}") from None
