"""The explicit client: ``TrackingClient`` (exported as ``MlflowClient`` too).

Method names and signatures follow MLflow's ``MlflowClient`` where it has them, so code
written for MLflow runs unchanged. The client does not care whether the store is a
database or a server.

Every method calls one method of the services the server's REST handlers call
(``TrackingService``, ``RegistryService``, ``ArtifactService``) with the client's local
``RequestContext``: the principal is the local user (``Settings.client.user``, else the login
name), the settings are the client's. Embedded, the services sit over the SQL store; against a
server, over the REST store (the server's own services then answer).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from modelyard import validation as v
from modelyard.auth.context import RequestContext, local_context
from modelyard.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.settings import Settings, login_name
from modelyard.tracking import stores
from modelyard.tracking.registry_client import RegistryClientMixin
from modelyard.tracking.service import TrackingService

logger = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrackingClient(RegistryClientMixin):
    """Experiments, runs, metrics, params, tags and artifacts through one tracking store; the model
    registry next to it (``RegistryClientMixin``)."""

    def __init__(self, tracking_uri: str | None = None, settings: Settings | None = None) -> None:
        """Missing arguments come from the current client context (``modelyard.tracking.context``): its
        settings, and the URI given to ``set_tracking_uri``."""
        if settings is None or tracking_uri is None:
            from modelyard.tracking import context

            ctx = context.current()
            settings = settings or ctx.settings
            tracking_uri = tracking_uri if tracking_uri is not None else ctx.explicit_tracking_uri
        self.settings = settings
        self.tracking_uri = stores.resolve_tracking_uri(tracking_uri, self.settings)
        self.context: RequestContext = local_context(self.settings, self.settings.client.user or login_name())
        self._store = None
        self._service: TrackingService | None = None
        self._artifacts = None
        self._artifact_uris: dict[str, str] = {}
        self._async = None
        self._async_lock = threading.Lock()

    @property
    def store(self):
        """The tracking store under the service (kept for code written against stores)."""
        if self._store is None:
            self._store = stores.get_store(self.tracking_uri, self.settings)
        return self._store

    @property
    def service(self) -> TrackingService:
        """The tracking service every method calls (over this client's store)."""
        if self._service is None:
            self._service = TrackingService(self.store)
        return self._service

    @property
    def artifact_service(self):
        """The artifact service of this client: ``mlflow-artifacts:`` URIs resolve through its server."""
        if self._artifacts is None:
            from modelyard.artifacts.service import ArtifactService

            self._artifacts = ArtifactService(settings=self.settings, tracking_uri=self.tracking_uri)
        return self._artifacts

    # -- experiments ----------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        return self.service.create_experiment(
            self.context, name, artifact_location, {k: str(val) for k, val in (tags or {}).items()}
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.service.get_experiment(self.context, str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.service.get_experiment_by_name(self.context, name)

    def search_experiments(
        self,
        view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
        max_results: int | None = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.service.search_experiments(
            self.context,
            ViewType.parse(view_type), max_results or 1000, filter_string, order_by, page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self.service.delete_experiment(self.context, str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.service.restore_experiment(self.context, str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.service.rename_experiment(self.context, str(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.service.set_experiment_tag(self.context, str(experiment_id), key, str(value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.service.delete_experiment_tag(self.context, str(experiment_id), key)

    # -- runs -------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        run_tags = [RunTag(k, self._tag_value(k, val)) for k, val in (tags or {}).items()]
        run = self.service.create_run(
            self.context,
            str(experiment_id),
            None,  # the context's principal: the local user
            start_time if start_time is not None else _now_ms(),
            run_tags,
            run_name,
        )
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def record_run(
        self,
        experiment_id: str,
        status: str,
        start_time: int,
        end_time: int,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Run:
        """Record a run that is over already (FINISHED, FAILED, KILLED) with its tags, params and
        metrics (logged at ``end_time``, step 0) at once: one transaction on a database."""
        run = self.service.record_run(
            self.context, str(experiment_id), None, start_time, end_time, status,
            [RunTag(k, self._tag_value(k, val)) for k, val in (tags or {}).items()], run_name,
            [Param(k, self._param_value(k, val)) for k, val in (params or {}).items()],
            [Metric(k, float(val), end_time, 0) for k, val in (metrics or {}).items()],
        )
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def record_runs(self, experiment_id: str, runs: Sequence[dict[str, Any]]) -> list[Run]:
        """Several runs that are over, each a dict of ``record_run``'s keyword arguments (``status``,
        ``start_time``, ``end_time``; optional ``tags``, ``run_name``, ``params``, ``metrics``): one
        transaction on a database for them all (a search's finished trials, written in one go)."""
        from modelyard.tracking.service import RunRecord

        records = [
            RunRecord(
                str(experiment_id), None, r["start_time"], r["end_time"], r["status"],
                [RunTag(k, self._tag_value(k, val)) for k, val in (r.get("tags") or {}).items()], r.get("run_name"),
                [Param(k, self._param_value(k, val)) for k, val in (r.get("params") or {}).items()],
                [Metric(k, float(val), r["end_time"], 0) for k, val in (r.get("metrics") or {}).items()],
            )
            for r in runs
        ]
        recorded = self.service.record_runs(self.context, records)
        for run in recorded:
            self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return recorded

    def get_run(self, run_id: str) -> Run:
        return self.service.get_run(self.context, run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> RunInfo:
        end_time = _now_ms() if status and RunStatus.parse(status).is_terminated else None
        return self.service.update_run_info(self.context, run_id, status, end_time, name)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> RunInfo:
        return self.service.update_run_info(
            self.context, run_id, RunStatus.parse(status or "FINISHED").value, end_time or _now_ms(), None
        )

    def delete_run(self, run_id: str) -> None:
        self.service.delete_run(self.context, run_id)

    def restore_run(self, run_id: str) -> None:
        self.service.restore_run(self.context, run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        return self.service.search_runs(
            self.context,
            [str(e) for e in experiment_ids],
            filter_string or None,
            ViewType.parse(run_view_type),
            max_results,
            order_by,
            page_token,
        )

    # -- logging ----------------------------------------------------------------
    def _queue_for(self, synchronous: bool | None):
        """The async logger when this call should be queued, else None."""
        if synchronous is False or (synchronous is None and self.settings.client.async_logging):
            with self._async_lock:
                if self._async is None:
                    from modelyard.tracking.async_logging import AsyncLogger

                    self._async = AsyncLogger(_ServiceWriter(self.service, self.context))
            return self._async
        return None

    def flush_async_logging(self) -> None:
        """Wait for queued data to be stored; raises UndeliveredData listing anything that was not."""
        if self._async is not None:
            self._async.flush()

    def close(self) -> None:
        """Flush asynchronous logging and stop its worker (the store stays cached for others)."""
        with self._async_lock:
            logger_, self._async = self._async, None
        if logger_ is not None:
            try:
                logger_.flush()  # raises UndeliveredData for what could not be stored
            finally:
                logger_.close()

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        **_: Any,
    ) -> None:
        metric = Metric(key, value, timestamp if timestamp is not None else _now_ms(), step or 0)
        queued = self._queue_for(synchronous)
        if queued is not None:
            v.validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
            queued.log_batch(run_id, metrics=[metric])
        else:
            (self._service or self.service).log_metric(self.context, run_id, metric)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        param = Param(key, self._param_value(key, value))
        queued = self._queue_for(synchronous)
        if queued is not None:
            v.validate_param(param.key, param.value)
            queued.log_batch(run_id, params=[param])
        else:
            self.service.log_param(self.context, run_id, param)
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        tag = RunTag(key, self._tag_value(key, value))
        queued = self._queue_for(synchronous)
        if queued is not None:
            v.validate_tag(tag.key, tag.value)
            queued.log_batch(run_id, tags=[tag])
        else:
            self.service.set_tag(self.context, run_id, tag)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.service.delete_tag(self.context, run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log in chunks within MLflow's per-request limits (1000 metrics, 100 params, 100 tags)."""
        params = [Param(p.key, self._param_value(p.key, p.value)) for p in params]
        tags = [RunTag(t.key, self._tag_value(t.key, t.value)) for t in tags]
        metrics = list(metrics)
        queued = self._queue_for(synchronous)
        if queued is not None:
            for m in metrics:
                v.validate_metric(m.key, m.value, m.timestamp, m.step)
            queued.log_batch(run_id, metrics, params, tags)
            return
        self.service.log_batch_in_chunks(self.context, run_id, metrics, params, tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None, **_: Any) -> None:
        self.service.log_inputs(self.context, run_id, list(datasets or ()))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        out: list[Metric] = []
        token = None
        while True:
            page = self.service.get_metric_history(self.context, run_id, key, None, token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    # -- logged models (MLflow 3) -------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A PENDING logged model (``finalize_logged_model`` once its files are uploaded)."""
        return self.service.create_logged_model(
            self.context,
            str(experiment_id),
            name,
            source_run_id,
            {k: str(val) for k, val in (tags or {}).items()},
            {k: str(val) for k, val in (params or {}).items()},
            model_type,
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.service.get_logged_model(self.context, model_id)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus | str) -> LoggedModel:
        return self.service.finalize_logged_model(self.context, model_id, status)

    def delete_logged_model(self, model_id: str) -> None:
        self.service.delete_logged_model(self.context, model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        return self.service.search_logged_models(
            self.context, [str(e) for e in experiment_ids], filter_string, datasets, max_results, order_by, page_token
        )

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        self.service.set_logged_model_tags(self.context, model_id, {k: str(val) for k, val in tags.items()})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.service.delete_logged_model_tag(self.context, model_id, key)

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        self.service.log_logged_model_params(self.context, model_id, {k: str(val) for k, val in params.items()})

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of a run."""
        self.service.log_outputs(self.context, run_id, list(models))

    def _param_value(self, key: str, value: Any) -> str:
        text = str(value)
        if self.settings.client.truncate_long_values and len(text) > v.MAX_PARAM_VAL_LENGTH:
            logger.warning("Truncating the value of param %r to %d characters", key, v.MAX_PARAM_VAL_LENGTH)
            return text[: v.MAX_PARAM_VAL_LENGTH]
        return text

    def _tag_value(self, key: str, value: Any) -> str:
        text = str(value)
        if self.settings.client.truncate_long_values and len(text) > v.MAX_TAG_VAL_LENGTH:
            logger.warning("Truncating the value of tag %r to %d characters", key, v.MAX_TAG_VAL_LENGTH)
            return text[: v.MAX_TAG_VAL_LENGTH]
        return text

    # -- artifacts --------------------------------------------------------------
    def _artifact_root(self, run_id: str) -> str:
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self._artifact_uris[run_id] = self.get_run(run_id).info.artifact_uri
        return uri

    def get_artifact_uri(self, run_id: str, artifact_path: str | None = None) -> str:
        uri = self._artifact_root(run_id)
        return uri if not artifact_path else uri.rstrip("/") + "/" + artifact_path.lstrip("/")

    def log_artifact(self, run_id: str, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """A file, or a folder (uploaded as ``<artifact_path>/<its name>``)."""
        self.artifact_service.upload(self.context, self._artifact_root(run_id), os.fspath(local_path), artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.artifact_service.upload_folder(
            self.context, self._artifact_root(run_id), os.fspath(local_dir), artifact_path
        )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.artifact_service.write_file(self.context, self._artifact_root(run_id), artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """JSON, or YAML when the file name ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False, allow_unicode=True)
        else:
            data = json.dumps(dictionary, indent=2, default=str)
        self.log_text(run_id, data, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict | None = None) -> None:
        """A matplotlib figure (or a plotly figure, as .html) saved as an artifact."""
        suffix = os.path.splitext(artifact_file)[1] or ".png"
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, "figure" + suffix)
            if hasattr(figure, "savefig"):
                figure.savefig(local, **(save_kwargs or {}))
            elif hasattr(figure, "write_html") and suffix == ".html":
                figure.write_html(local, **(save_kwargs or {}))
            elif hasattr(figure, "write_image"):
                figure.write_image(local, **(save_kwargs or {}))
            else:
                from modelyard.exceptions import InvalidParameterValue

                raise InvalidParameterValue(
                    f"Unsupported figure type {type(figure).__name__}: expected a matplotlib or plotly figure"
                )
            with open(local, "rb") as fh:
                self.artifact_service.write_file(self.context, self._artifact_root(run_id), artifact_file, fh.read())

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self.artifact_service.list_files(self.context, self._artifact_root(run_id), path)

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        return self.artifact_service.download(self.context, self._artifact_root(run_id), path, dst_path)


class _ServiceWriter:
    """What asynchronous logging writes through: the service's ``log_batch`` with the client's context."""

    def __init__(self, service: TrackingService, context: RequestContext) -> None:
        self._service, self._context = service, context

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        self._service.log_batch(self._context, run_id, metrics, params, tags)


MlflowClient = TrackingClient


def iter_all_runs(
    client: TrackingClient,
    experiment_ids: Iterable[str],
    filter_string: str | None,
    run_view_type: ViewType,
    max_results: int,
    order_by: Sequence[str] | None,
) -> list[Run]:
    """Follow page tokens until ``max_results`` runs are read (MLflow's fluent search_runs)."""
    out: list[Run] = []
    token = None
    ids = list(experiment_ids)
    while len(out) < max_results:
        page = client.search_runs(ids, filter_string or "", run_view_type, min(max_results - len(out), 50_000), order_by, token)
        out.extend(page)
        token = page.token
        if not token:
            break
    return out
