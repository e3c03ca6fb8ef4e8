"""The seam where other subsystems add to workflows: task kinds and job types, each a table.

``TASK_KINDS``: how a task's ``run`` is started. ``function`` (``run: "module:function"``) is
forked from the warm task runner (a Python process with modelyard imported, ``jobs/prefork.py``);
``command`` (``run: ["prog", "arg", ...]``) is exec'd as a subprocess. Both are supervised alike
(logs, heartbeat, timeout, cancel kill the process group).

``JOB_TYPES``: a top-level section of a job definition that stands for tasks. ``retrain:`` (issue
15) is one: ``register_job_type("retrain", expand)`` where ``expand(section, definition)`` returns
the task definitions (plain dicts, the same fields as a task in YAML) the section stands for. At
deploy the section is checked by ``expand`` (raise ``InvalidParameterValue`` or ``ValueError``
naming the field) and its tasks come before the definition's own ``tasks`` (which may
``depends_on`` them). The stored definition keeps the section, not the tasks it expanded to, so a
redeploy of the same YAML changes nothing and a new version of ``expand`` applies to new runs.

The spec parser (``jobs/spec.py``) and the runner (``jobs/runner.py``) read these tables; nothing
else needs to change to add a kind or a type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

FORK, EXEC = "fork", "exec"


@dataclass(frozen=True, slots=True)
class TaskKind:
    name: str
    launch: Literal["fork", "exec"]  # fork: from the warm runner (a Python callable); exec: a new program


TASK_KINDS: dict[str, TaskKind] = {
    "function": TaskKind("function", FORK),
    "command": TaskKind("command", EXEC),
}


def kind_of(run: str | list[str]) -> TaskKind:
    """The kind of a task from its ``run`` field."""
    return TASK_KINDS["command" if isinstance(run, list) else "function"]


Expand = Callable[[Any, dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class JobType:
    section: str  # the top-level key of a job definition, e.g. "retrain"
    expand: Expand  # (the section's value, the whole definition) -> task definitions
    module: str | None = None  # the plugin table's ``module:function`` it was loaded from


JOB_TYPES: dict[str, JobType] = {}



def register_job_type(section: str, expand: Expand) -> None:
    """Make ``section`` a job type (idempotent for the same function; a name used twice is refused)."""
    from modelyard.jobs.spec import JobSpec

    if section in JobSpec.model_fields:
        raise ValueError(f"{section!r} is a field of every job definition, not a job type name")
    old = JOB_TYPES.get(section)
    if old is not None and old.expand is not expand:
        raise ValueError(f"Job type {section!r} is registered already")
    JOB_TYPES[section] = JobType(section, expand)


def job_type(section: str) -> JobType | None:
    """The job type of a top-level section: registered in this process, else named in the plugin
    table ``plugins.JOB_TYPES`` (or the ``modelyard.job_type`` entry points) and imported on first use
    (a scheduler that never sees ``retrain:`` never imports the retraining code)."""
    found = JOB_TYPES.get(section)
    if found is None:
        from modelyard.plugins import job_types, load_object

        target = job_types().get(section)
        if target is not None:
            found = JOB_TYPES.setdefault(section, JobType(section, load_object(target), module=target))
    return found
