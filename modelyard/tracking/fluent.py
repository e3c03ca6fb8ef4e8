"""The fluent API: ``start_run``, ``log_metric``, ... on an implicit active run.

The active-run stack lives in a ContextVar: threads start with no active run and asyncio
tasks see the runs of the context they were created in, so nothing is shared by accident.
The tracking URI, the active experiment and the client live in the current client context
(``modelyard.tracking.context``): process-wide by default, as in MLflow, or scoped with ``context.use()``.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Sequence
from typing import Any

from modelyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.settings import Settings
from modelyard.tracking import context

PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"

_active_runs: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar("modelyard_active_runs", default=())
_last_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelyard_last_run_id", default=None)



class ActiveRun(Run):
    """The run that fluent calls log to; a context manager that ends it. It keeps the client context
    it was started in: calls that log to it go to that context's client (the store the run is in)
    without resolving the current context again (which checks the environment) on every call."""

    def __init__(self, run: Run, ctx: context.ClientContext | None = None) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_context", ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_run"), name)

    @property
    def info(self):  # type: ignore[override]
        return self._run.info

    @property
    def data(self):  # type: ignore[override]
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(r.info.run_id == self.info.run_id for r in _active_runs.get()):
            end_run(status.value)
        return False

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id}>"


def _settings() -> Settings:
    return context.current().settings


def _get_client():
    """The current context's client (kept for callers of the fluent layer; prefer ``context``)."""
    return context.current().client()


# -- tracking URI and experiment ----------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike) -> None:
    """Where fluent calls and new clients track to (see modelyard.tracking.stores for precedence)."""
    context.current().set_tracking_uri(uri)


def current_tracking_uri() -> str | None:
    """The URI given to set_tracking_uri, if any (clients fall back to settings, then the default)."""
    return context.current().explicit_tracking_uri


def get_tracking_uri() -> str:
    return context.current().tracking_uri


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active, creating it by name if it does not exist."""
    return context.current().set_experiment(experiment_name, experiment_id)


# -- runs --------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager."""
    stack = _active_runs.get()
    if stack and not nested:
        raise InvalidParameterValue(
            f"Run with UUID {stack[-1].info.run_id} is already active. To start a new run, first end the "
            "current run with modelyard.end_run(). To start a nested run, call start_run with nested=True"
        )
    ctx = context.current()
    client = ctx.client()
    parent = parent_run_id or (stack[-1].info.run_id if nested and stack else None)
    run_id = run_id or (_settings().client.run_id if not stack else None)
    if run_id:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidParameterValue(f"Cannot start run with ID {run_id} because it is in the deleted state.")
        client.update_run(run_id, RunStatus.RUNNING.value, run_name)
        if tags:
            client.log_batch(run_id, tags=[RunTag(k, str(val)) for k, val in tags.items()])
        run = client.get_run(run_id)
    else:
        run_tags = _default_tags()
        if parent:
            run_tags[PARENT_RUN_TAG] = parent
        if description:
            run_tags[NOTE_TAG] = description
        run_tags.update({k: str(val) for k, val in (tags or {}).items()})
        run = client.create_run(ctx.experiment_id(experiment_id), tags=run_tags, run_name=run_name)
    active = ActiveRun(run, ctx)
    _active_runs.set((*stack, active))
    return active


def _default_tags() -> dict[str, str]:
    from modelyard.settings import login_name

    source = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "<console>"
    return {
        "mlflow.user": _settings().client.user or login_name(),
        "mlflow.source.name": source,
        "mlflow.source.type": "LOCAL",
    }


def end_run(status: str = "FINISHED") -> None:
    """End the active run (the innermost one when runs are nested)."""
    stack = _active_runs.get()
    if not stack:
        return
    run = stack[-1]
    _active_runs.set(stack[:-1])
    _last_run_id.set(run.info.run_id)
    client = _client_of(run)
    try:
        client.flush_async_logging()
    finally:
        client.set_terminated(run.info.run_id, RunStatus.parse(status).value)


def flush_async_logging() -> None:
    """Wait until asynchronously logged data is stored (raises if some could not be)."""
    _get_client().flush_async_logging()


def active_run() -> ActiveRun | None:
    stack = _active_runs.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    current = active_run()
    if current is not None:
        return get_run(current.info.run_id)
    last = _last_run_id.get()
    return get_run(last) if last else None


def get_run(run_id: str) -> Run:
    return _get_client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _get_client().get_parent_run(run_id)


def _client_of(run: ActiveRun):
    ctx = object.__getattribute__(run, "_context")
    return ctx.client() if ctx is not None else _get_client()


def _target(run_id: str | None = None):
    """(client, run id) a fluent logging call writes through: an explicit ``run_id`` through the
    current context's client; else the active run (started implicitly, as MLflow does, when there is
    none) through the client of the context it was started in."""
    if run_id:
        return _get_client(), run_id
    stack = _active_runs.get()
    run = stack[-1] if stack else start_run()
    return _client_of(run), run.info.run_id


# -- logging -----------------------------------------------------------------------
def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    client, rid = _target()
    return client.log_param(rid, key, value, synchronous)


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_batch(
        rid, params=[Param(k, str(val)) for k, val in params.items()], synchronous=synchronous
    )


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    **_: Any,
) -> None:
    client, rid = _target(run_id)
    client.log_metric(rid, key, value, timestamp, step, synchronous)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    **_: Any,
) -> None:
    from modelyard.tracking.client import _now_ms

    ts = timestamp if timestamp is not None else _now_ms()
    client, rid = _target(run_id)
    client.log_batch(
        rid, metrics=[Metric(k, val, ts, step or 0) for k, val in metrics.items()], synchronous=synchronous
    )


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    client, rid = _target()
    client.set_tag(rid, key, value, synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    client, rid = _target()
    client.log_batch(rid, tags=[RunTag(k, str(val)) for k, val in tags.items()], synchronous=synchronous)


def delete_tag(key: str) -> None:
    client, rid = _target()
    client.delete_tag(rid, key)


def log_input(dataset: Dataset, context: str | None = None, tags: dict[str, str] | None = None) -> None:
    """Record a dataset as an input of the active run (``context``: train, eval, ...)."""
    input_tags = [InputTag(k, str(val)) for k, val in (tags or {}).items()]
    if context:
        input_tags.append(InputTag("mlflow.data.context", context))
    client, rid = _target()
    client.log_inputs(rid, [DatasetInput(dataset, tuple(input_tags))])


# -- artifacts -------------------------------------------------------------------------
def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_text(rid, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_dict(rid, dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict | None = None, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_figure(rid, figure, artifact_file, save_kwargs=save_kwargs)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    client, rid = _target()
    return client.get_artifact_uri(rid, artifact_path)


def list_artifacts(run_id: str | None = None, path: str | None = None) -> list[FileInfo]:
    client, rid = _target(run_id)
    return client.list_artifacts(rid, path)


def download_artifacts(
    artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None, dst_path: str | None = None
) -> str:
    if artifact_uri is not None:
        return context.current().artifact_repository(artifact_uri).download_artifacts("", dst_path)
    if run_id is None:
        raise InvalidParameterValue("download_artifacts needs artifact_uri or run_id")
    return _get_client().download_artifacts(run_id, artifact_path or "", dst_path)


# -- experiments and search ------------------------------------------------------------
def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
    return _get_client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _get_client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _get_client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _get_client().delete_experiment(experiment_id)


def delete_run(run_id: str) -> None:
    _get_client().delete_run(run_id)


def set_experiment_tag(key: str, value: Any) -> None:
    _get_client().set_experiment_tag(context.current().experiment_id(), key, value)


def search_experiments(
    view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    client = _get_client()
    out: list[Experiment] = []
    token = None
    limit = max_results or 10**9
    while len(out) < limit:
        page = client.search_experiments(view_type, min(limit - len(out), 50_000), filter_string, order_by, token)
        out.extend(page)
        token = page.token
        if not token:
            break
    return out


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
):
    """Runs matching ``filter_string``, as a pandas DataFrame (default) or a list of Run."""
    from modelyard.tracking.client import iter_all_runs

    if output_format not in ("pandas", "list"):
        raise InvalidParameterValue(f"Unsupported output_format {output_format!r}: use 'pandas' or 'list'")
    client = _get_client()
    ids = [str(e) for e in (experiment_ids or [])]
    for name in experiment_names or []:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
        ids.append(exp.experiment_id)
    if not ids and not experiment_names:
        if search_all_experiments:
            ids = [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
        else:
            ids = [context.current().experiment_id()]
    found = iter_all_runs(client, ids, filter_string, ViewType.parse(run_view_type), max_results, order_by)
    if output_format == "list":
        return found
    from modelyard.tracking.frames import runs_to_frame

    return runs_to_frame(found)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return _get_client().get_metric_history(run_id, key)
