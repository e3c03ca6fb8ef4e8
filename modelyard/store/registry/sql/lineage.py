"""Where a version comes from: resolve a checked ``Source`` against this database's runs, logged
models and versions, and read a version's lineage (version -> logged model -> run -> experiment)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import Connection, select

from modelyard.entities import LifecycleStage
from modelyard.entities.registry import STAGE_DELETED_INTERNAL, ModelVersionStage
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.registry import checks
from modelyard.store.registry import tables as db
from modelyard.store.registry.sources import Source, within
from modelyard.store.sql.common import join_uri, now_ms
from modelyard.store.sql.dml import upsert
from modelyard.store.tracking import tables as tracking
from modelyard.store.tracking.base import MODEL_VERSIONS_TAG

_RUN_ID_MAX = 32
PROXY_SCHEME = "mlflow-artifacts"
PROXY_ROUTE = "/mlflow-artifacts/artifacts"
DELETED = LifecycleStage.DELETED.value


@dataclass(frozen=True, slots=True)
class Resolved:
    storage_location: str
    run_id: str | None
    model_id: str | None


def run_row(conn: Connection, run_id: str) -> Any:
    runs = tracking.runs
    if not isinstance(run_id, str) or len(run_id) > _RUN_ID_MAX:
        raise InvalidParameterValue(f"Invalid run_id '{str(run_id)[:60]}'")
    row = conn.execute(
        select(runs.c.run_uuid, runs.c.artifact_uri, runs.c.experiment_id, runs.c.name, runs.c.status)
        .add_columns(runs.c.user_id, runs.c.start_time, runs.c.end_time, runs.c.lifecycle_stage)
        .where(runs.c.run_uuid == run_id)
    ).first()
    if row is None:
        raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    return row


def logged_model_row(conn: Connection, model_id: str, *, allow_deleted: bool = False) -> Any:
    lm = tracking.logged_models
    row = conn.execute(select(lm).where(lm.c.model_id == model_id)).first() if model_id else None
    if row is None or (row.lifecycle_stage == DELETED and not allow_deleted):
        raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
    return row


def _run_model(conn: Connection, run_id: str, name: str) -> Any:
    """MLflow 3 keeps a run's model as a logged model named after the path: runs:/<run>/model."""
    lm = tracking.logged_models
    stmt = (
        select(lm)
        .where(lm.c.source_run_id == run_id, lm.c.name == name, lm.c.lifecycle_stage != DELETED)
        .order_by(lm.c.creation_timestamp_ms.desc(), lm.c.id.desc())
        .limit(1)
    )
    return conn.execute(stmt).first()


def registry_version(conn: Connection, name: str, selector: str) -> Any:
    """The version row ``models:/<name>/<selector>`` names: a number, a stage, latest, or @alias."""
    rm, mv = db.registered_models, db.model_versions
    checks.model_name(name)
    model = conn.execute(select(rm.c.id).where(rm.c.name == name)).first()
    if model is None:
        raise ResourceDoesNotExist(f"Registered Model with name={name} not found")
    live = sa.and_(mv.c.rm_id == model.id, mv.c.current_stage != STAGE_DELETED_INTERNAL)
    if selector.startswith("@") and selector[1:].lower() != "latest":
        aliases = db.registered_model_aliases
        found = conn.execute(
            select(aliases.c.version).where(aliases.c.rm_id == model.id, aliases.c.alias == selector[1:])
        ).first()
        if found is None:
            raise InvalidParameterValue(f"Registered model alias {selector[1:]} not found.")
        condition = mv.c.version == found.version
    elif selector.isdigit():
        condition = mv.c.version == int(selector)
    elif selector.lstrip("@").lower() == "latest":
        condition = sa.true()
    else:
        condition = mv.c.current_stage == ModelVersionStage.parse(selector).value
    row = conn.execute(select(mv).where(live, condition).order_by(mv.c.version.desc()).limit(1)).first()
    if row is None:
        raise ResourceDoesNotExist(f"No model version of '{name}' matches '{selector}'")
    return row


def _known_run(conn: Connection, run_id: str | None) -> Any:
    """The run row of ``run_id``, or None when there is none or this database does not know it
    (the registry may serve runs tracked on another server, as MLflow's does)."""
    if not run_id:
        return None
    try:
        return run_row(conn, run_id)
    except ResourceDoesNotExist:
        return None


def _ours(conn: Connection, src: Source) -> bool:
    """Whether ``src`` points into this server's own artifact storage: the proxied store
    (``mlflow-artifacts:``, or the proxy's HTTP route) or any experiment's artifact location."""
    scheme = urlsplit(src.text).scheme.lower() if src.kind == "uri" else ""
    if scheme == PROXY_SCHEME or (scheme in ("http", "https") and PROXY_ROUTE in src.text):
        return True
    exps = tracking.experiments
    locations = conn.execute(select(exps.c.artifact_location).distinct()).scalars()
    return any(within(src, location) for location in locations if location)


def _refuse(src: Source, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid model version source '{src.text}': {why}")


def resolve(conn: Connection, src: Source, run_id: str | None, model_id: str | None) -> Resolved:
    """The storage location and lineage of a new version, or InvalidParameterValue.

    A source that names a run or a logged model (``runs:/<id>/...``, ``models:/m-<id>``) must come
    with that same ``run_id`` / ``model_id``, and a location inside this server's storage must lie
    inside the artifacts of the run or logged model given: nobody registers what they did not
    name. A ``run_id`` this server does not know is accepted (the tracking server may be another
    one, as MLflow allows) for a ``runs:/`` source of that run and for locations outside our storage.
    """
    run = _known_run(conn, run_id)
    model = logged_model_row(conn, model_id) if model_id else None
    if src.kind == "run":
        assert src.run_id is not None
        if run_id != src.run_id:
            given = f"run_id {run_id}" if run_id else "no run_id"
            raise _refuse(src, f"it names run {src.run_id}, but the request gives {given}")
        if run is None:  # a run of another tracking server: kept as given
            return Resolved(src.text, run_id, model_id)
        logged = _run_model(conn, src.run_id, src.path) if src.path and "/" not in src.path else None
        if logged is not None and not model_id:
            return Resolved(logged.artifact_location, src.run_id, logged.model_id)
        return Resolved(join_uri(run.artifact_uri, src.path) if src.path else run.artifact_uri, src.run_id, model_id)
    if src.kind == "logged_model":
        assert src.model_id is not None
        if model_id != src.model_id:
            given = f"model_id {model_id}" if model_id else "no model_id"
            raise _refuse(src, f"it names {src.model_id}, but the request gives {given}")
        assert model is not None
        if run_id and model.source_run_id and run_id != model.source_run_id:
            raise _refuse(src, f"logged model {src.model_id} comes from run {model.source_run_id}, not run_id {run_id}")
        return Resolved(model.artifact_location, run_id or model.source_run_id, src.model_id)
    if src.kind == "registry":
        assert src.name is not None and src.selector is not None
        other = registry_version(conn, src.name, src.selector)
        location = other.storage_location or other.source
        return Resolved(location, run_id or other.run_id, model_id or other.model_id)
    if (run is not None and within(src, run.artifact_uri)) or (
        model is not None and within(src, model.artifact_location)
    ):
        return Resolved(src.text, run_id, model_id)
    if src.kind == "uri" and run_id and run is None and model is None and not _ours(conn, src):
        return Resolved(src.text, run_id, model_id)  # a run and its artifacts kept elsewhere
    raise _refuse(
        src,
        "a location must lie inside the artifacts of the run given as run_id (or the logged model given "
        "as model_id); local paths, file: URIs and other locations are refused.",
    )


def lineage(conn: Connection, version_row: Any) -> dict[str, Any]:
    """Summaries of the logged model, run and experiment behind a version (None when unknown)."""
    logged = None
    if version_row.model_id:
        row = conn.execute(
            select(tracking.logged_models).where(tracking.logged_models.c.model_id == version_row.model_id)
        ).first()
        if row is not None:
            logged = {
                "model_id": row.model_id,
                "name": row.name,
                "experiment_id": str(row.experiment_id),
                "artifact_uri": row.artifact_location,
                "status": row.status,
                "source_run_id": row.source_run_id,
                "creation_timestamp_ms": row.creation_timestamp_ms,
                "lifecycle_stage": row.lifecycle_stage,
            }
    run = None
    run_id = version_row.run_id or (logged or {}).get("source_run_id")
    if run_id:
        try:
            r = run_row(conn, run_id)
        except (ResourceDoesNotExist, InvalidParameterValue):
            r = None
        if r is not None:
            run = {
                "run_id": r.run_uuid,
                "run_name": r.name,
                "experiment_id": str(r.experiment_id),
                "user_id": r.user_id,
                "status": r.status,
                "start_time": r.start_time,
                "end_time": r.end_time,
                "artifact_uri": r.artifact_uri,
                "lifecycle_stage": r.lifecycle_stage,
            }
    experiment_id = (run or logged or {}).get("experiment_id")
    experiment = None
    if experiment_id is not None:
        exps = tracking.experiments
        e = conn.execute(select(exps).where(exps.c.experiment_id == int(experiment_id))).first()
        if e is not None:
            experiment = {
                "experiment_id": str(e.experiment_id),
                "name": e.name,
                "artifact_location": e.artifact_location,
                "lifecycle_stage": e.lifecycle_stage,
            }
    return {"logged_model": logged, "run": run, "experiment": experiment}




def link_logged_model(conn: Connection, model_id: str, name: str, version: str) -> None:
    """Add (name, version) to the logged model's ``mlflow.modelVersions`` tag (a JSON list)."""
    tags = tracking.logged_model_tags
    model = logged_model_row(conn, model_id)
    current = conn.execute(
        select(tags.c.value).where(tags.c.model_id == model.id, tags.c.key == MODEL_VERSIONS_TAG)
    ).scalar()
    links = json.loads(current or "[]")
    entry = {"name": name, "version": version}
    if entry not in links:
        value = json.dumps([*links, entry])
        upsert(conn, tags, [{"model_id": model.id, "key": MODEL_VERSIONS_TAG, "value": value}], ["model_id", "key"], ["value"])
        lm = tracking.logged_models
        conn.execute(sa.update(lm).where(lm.c.id == model.id).values(last_updated_timestamp_ms=now_ms()))
