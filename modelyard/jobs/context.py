"""What a running task sees: its parameters and the values its upstream tasks returned.

Inside a task's process (``run: module:function``), ``task_value("build")`` is what the task
``build`` of the same job run returned. A command task finds the same values as JSON in the
environment variable ``MODELYARD_TASK_VALUES`` and its parameters in ``MODELYARD_TASK_PARAMS``.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
_values: dict[str, Any] = {}
_params: dict[str, Any] = {}
_info: dict[str, Any] = {}


def bind(values: dict[str, Any], params: dict[str, Any], info: dict[str, Any]) -> None:
    _values.clear()
    _values.update(values)
    _params.clear()
    _params.update(params)
    _info.clear()
    _info.update(info)


def task_value(key: str, default: Any = _MISSING) -> Any:
    """The return value of task ``key`` of this job run (a task this one depends on, directly or not)."""
    if key in _values:
        return _values[key]
    if default is not _MISSING:
        return default
    raise KeyError(f"No value of task {key!r} in this job run (known: {', '.join(sorted(_values)) or 'none'})")


def task_params() -> dict[str, Any]:
    return dict(_params)


def task_info() -> dict[str, Any]:
    """job, job_run_id, task, attempt and tracking run_id of the running task."""
    return dict(_info)
