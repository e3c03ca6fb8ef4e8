"""Logging a model (MLflow 3's LoggedModel flow) through the tracking client, to a database or a server.

1. ``create_logged_model`` in the active run's experiment (or the active experiment when no run is
   active): name, ``source_run_id``, params (the run's params, then the given ones), tags (the
   run's ``mlflow.user`` / ``mlflow.source.*`` tags, then the given ones);
2. with a run: ``log_outputs`` (the model is an output of the run at ``step``), and the run's
   metric points at that step are linked to the model;
3. the folder is written locally, with ``model_id``, ``run_id`` and ``artifact_path`` in MLmodel,
   and uploaded to the logged model's ``artifact_uri`` (``get_artifact_repository(uri,
   tracking_uri=...)``, so ``mlflow-artifacts:/`` goes through the tracking server);
4. the model is finalized READY, or UPLOAD_FAILED when anything above failed (and the error raised).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.exceptions import NotImplementedFeature
from modelyard.models.mlmodel import Model, ModelInfo

if TYPE_CHECKING:
    from modelyard.tracking.context import ClientContext

logger = logging.getLogger(__name__)

_INHERITED_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit")


def log_model(
    save: Callable[[Path, Model], Model],
    *,
    name: str | None = None,
    artifact_path: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    registered_model_name: str | None = None,
    context: ClientContext | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Create a logged model, save it with ``save(folder, mlmodel)``, upload it, finalize it; with
    ``registered_model_name``, register it as that model's next version. ``context`` is the client
    context to log through (default: the current one); the run is ``run_id`` (a background writer
    names it), else the fluent active run, if any."""
    from modelyard.entities import LoggedModelStatus  # here: loading a model needs no entities
    from modelyard.tracking import context as contexts
    from modelyard.tracking.fluent import active_run

    ctx = context or contexts.current()
    name = name or artifact_path or "model"
    client = ctx.client()
    if run_id is None:
        active = active_run()
        run_id = active.info.run_id if active is not None else None
    run = client.get_run(run_id) if run_id is not None else None
    run_id = run.info.run_id if run is not None else None
    experiment_id = run.info.experiment_id if run is not None else ctx.experiment_id()
    all_params = dict(run.data.params) if run is not None else {}
    all_params.update({k: str(v) for k, v in (params or {}).items()})
    all_tags = {k: v for k, v in (run.data.tags if run is not None else {}).items() if k in _INHERITED_TAGS}
    all_tags.update({k: str(v) for k, v in (tags or {}).items()})
    logged = client.create_logged_model(experiment_id, name, run_id, all_tags, all_params, model_type)
    model_id = logged.model_id
    try:
        if run is not None:
            client.service.record_model_output(client.context, run, model_id, step)
        template = Model(
            artifact_path=logged.artifact_location, run_id=run_id, model_id=model_id, model_uuid=model_id
        )
        with tempfile.TemporaryDirectory(prefix="modelyard-log-model-") as tmp:
            folder = Path(tmp) / "model"
            model = save(folder, template)
            repo = ctx.artifact_repository(logged.artifact_location, tracking_uri=client.tracking_uri)
            repo.log_artifacts(str(folder))
    except BaseException as exc:
        try:
            client.finalize_logged_model(model_id, LoggedModelStatus.UPLOAD_FAILED)
        except Exception:  # report the original error, not the cleanup's
            logger.warning("Could not mark logged model %s as UPLOAD_FAILED", model_id, exc_info=True)
        if isinstance(exc, Exception):
            logger.debug("Logging model %s failed", model_id, exc_info=True)
        raise
    client.finalize_logged_model(model_id, LoggedModelStatus.READY)
    version = _register(client, f"models:/{model_id}", registered_model_name) if registered_model_name else None
    return ModelInfo(
        artifact_path=logged.artifact_location,
        flavors=model.flavors,
        model_uri=f"models:/{model_id}",
        model_uuid=model.model_uuid,
        run_id=run_id,
        saved_input_example_info=model.saved_input_example_info,
        signature=model.signature,
        utc_time_created=model.utc_time_created,
        mlflow_version=model.mlflow_version,
        metadata=model.metadata,
        model_id=model_id,
        name=name,
        params=all_params,
        tags=all_tags,
        registered_model_version=version,
    )


def _register(client: Any, model_uri: str, name: str) -> int:
    """Register the logged model as the next version of ``name`` (MLflow's ``registered_model_name``)."""
    try:
        from modelyard.tracking.registry_fluent import register_with
    except ImportError:
        raise NotImplementedFeature(
            "registered_model_name needs the model registry (modelyard.registry)"
        ) from None
    return int(register_with(client, model_uri, name).version)


def flavor_log_model(save_model: Callable[..., Any], what: str) -> Callable[..., ModelInfo]:
    """A flavor's public ``log_model(model, name, ...)``: ``save_model(model, folder, mlflow_model=...,
    **save_kwargs)`` run inside :func:`log_model`. One definition for every native-model flavor."""

    def flavor_log(
        model: Any,
        name: str | None = None,
        *,
        artifact_path: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        model_type: str | None = None,
        step: int = 0,
        registered_model_name: str | None = None,
        **save_kwargs: Any,
    ) -> ModelInfo:
        return log_model(
            lambda folder, template: save_model(model, folder, mlflow_model=template, **save_kwargs),
            name=name,
            artifact_path=artifact_path,
            params=params,
            tags=tags,
            model_type=model_type,
            step=step,
            registered_model_name=registered_model_name,
        )

    flavor_log.__name__ = flavor_log.__qualname__ = "log_model"
    flavor_log.__doc__ = (
        f"Log {what} as a logged model of the active run; see ``save_model`` for the options."
    )
    return flavor_log
