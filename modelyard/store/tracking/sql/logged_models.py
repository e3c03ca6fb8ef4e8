"""Logged models in the SQL store: functions over one open connection (the store owns transactions).

``SqlTrackingStore`` delegates its logged-model methods here, each inside one transaction:
create / get / finalize / delete, tags, params, metrics linked to a model, run outputs and
model inputs, and search. Semantics follow MLflow 3's SQL store:

- ``model_id`` is ``m-<32 hex>``; artifacts live at ``<experiment artifact_location>/models/<id>/artifacts``.
- delete is soft (``lifecycle_stage = deleted``): get raises ResourceDoesNotExist unless
  ``allow_deleted``; search never returns deleted models; writes to them are refused.
- search filters with the shared grammar (``modelyard.search``, entity ``logged_models``):
  attributes name, model_id, model_type, status, source_run_id, creation_timestamp,
  last_updated_timestamp (``*_time`` and ``*_ms`` aliases); ``metrics.<k>`` matches when any
  point of that metric matches (restricted to ``datasets`` when given); ``params.<k>``, ``tags.<k>``.
  Ordering by a metric uses its latest point (timestamp, then step); missing values sort last.
  Ties break on ``creation_timestamp DESC, model_id ASC``. Page tokens carry the offset and a
  fingerprint of the query, so a token is refused by a different query.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from modelyard import validation as v
from modelyard.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
)
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.sql.common import join_uri, now_ms
from modelyard.store.sql.dml import upsert
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.names import random_run_name
from modelyard.store.tracking.sql.common import experiment_int
from modelyard.store.tracking.sql.hydrate import metric_from_db, metric_to_db

ACTIVE = LifecycleStage.ACTIVE.value
DELETED = LifecycleStage.DELETED.value
MODELS_FOLDER = "models"
ARTIFACTS_FOLDER = "artifacts"
SEARCH_DEFAULT_MAX_RESULTS = 100
SEARCH_MAX_RESULTS = 50_000
MAX_NAME_LENGTH = 500
MAX_TAG_VALUE_LENGTH = 100_000  # mlflow.modelVersions grows with every registration
MAX_STATUS_MESSAGE_LENGTH = 1000
_NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")
_CHUNK = 500

lm = db.logged_models


# -- validation ------------------------------------------------------------------------------
def validate_name(name: object) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in _NAME_FORBIDDEN):
        raise InvalidParameterValue(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot "
            f"contain the following characters: {', '.join(_NAME_FORBIDDEN)}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterValue(f"Model name is longer than {MAX_NAME_LENGTH} characters")
    return name


def validate_tags(tags: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in tags.items():
        v.validate_key(key, "tag")
        text = "" if value is None else str(value)
        if len(text) > MAX_TAG_VALUE_LENGTH:
            raise InvalidParameterValue(
                f"Tag value of '{key}' had length {len(text)}, which exceeded length limit of "
                f"{MAX_TAG_VALUE_LENGTH}"
            )
        out[key] = text
    return out


def _validate_source_run_id(run_id: str | None) -> str | None:
    if not run_id:
        return None
    v.validate_run_id(run_id)
    if len(run_id) > 32:
        raise InvalidParameterValue(
            f"Invalid source_run_id '{run_id[:60]}': run ids have at most 32 characters"
        )
    return run_id


# -- rows ------------------------------------------------------------------------------------
def _row(conn: Connection, model_id: str, *, allow_deleted: bool = False):
    row = None
    if isinstance(model_id, str) and model_id:
        row = conn.execute(select(lm).where(lm.c.model_id == model_id)).first()
    if row is None or (row.lifecycle_stage == DELETED and not allow_deleted):
        raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
    return row


def _touch(conn: Connection, row_id: int, **values: Any) -> None:
    conn.execute(update(lm).where(lm.c.id == row_id).values(last_updated_timestamp_ms=now_ms(), **values))


def _run_row(conn: Connection, run_id: str):
    row = conn.execute(
        select(db.runs.c.id, db.runs.c.lifecycle_stage).where(db.runs.c.run_uuid == run_id)
    ).first()
    if row is None:
        raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    if row.lifecycle_stage != ACTIVE:
        raise InvalidParameterValue(
            f"The run {run_id} must be in the 'active' state. Current state is {row.lifecycle_stage}."
        )
    return row


def _model_ids(conn: Connection, model_ids: Iterable[str]) -> dict[str, int]:
    """Surrogate keys of active models; an unknown or deleted id raises ResourceDoesNotExist."""
    wanted = sorted(set(model_ids))
    found: dict[str, int] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        for mid, rid in conn.execute(
            select(lm.c.model_id, lm.c.id).where(lm.c.model_id.in_(chunk), lm.c.lifecycle_stage == ACTIVE)
        ):
            found[mid] = rid
    missing = [m for m in wanted if m not in found]
    if missing:
        raise ResourceDoesNotExist(f"Logged model with ID '{missing[0]}' not found.")
    return found


# -- create / read / update --------------------------------------------------------------------
def create(
    conn: Connection,
    experiment_id: str,
    name: str | None = None,
    model_type: str | None = None,
    source_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> LoggedModel:
    name = validate_name(name) if name is not None else random_run_name()
    tag_rows = validate_tags(tags or {})
    param_rows = {k: v.validate_param(k, val) for k, val in (params or {}).items()}
    if model_type is not None and len(model_type) > 500:
        raise InvalidParameterValue("model_type is longer than 500 characters")
    source_run_id = _validate_source_run_id(source_run_id)
    eid = experiment_int(experiment_id)
    exp = conn.execute(
        select(db.experiments.c.artifact_location, db.experiments.c.lifecycle_stage).where(
            db.experiments.c.experiment_id == eid
        )
    ).first()
    if exp is None:
        raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
    if exp.lifecycle_stage != ACTIVE:
        raise InvalidParameterValue(
            f"The experiment {experiment_id} must be in the 'active' state. Current state is {exp.lifecycle_stage}."
        )
    model_id = f"m-{uuid.uuid4().hex}"
    t = now_ms()
    row_id = conn.execute(
        lm.insert().values(
            model_id=model_id,
            experiment_id=eid,
            name=name,
            artifact_location=join_uri(exp.artifact_location, MODELS_FOLDER, model_id, ARTIFACTS_FOLDER),
            creation_timestamp_ms=t,
            last_updated_timestamp_ms=t,
            status=LoggedModelStatus.PENDING.value,
            lifecycle_stage=ACTIVE,
            model_type=model_type or None,
            source_run_id=source_run_id,
            status_message=None,
        )
    ).inserted_primary_key[0]
    if tag_rows:
        conn.execute(
            db.logged_model_tags.insert(),
            [{"model_id": row_id, "key": k, "value": x} for k, x in tag_rows.items()],
        )
    if param_rows:
        conn.execute(
            db.logged_model_params.insert(),
            [{"model_id": row_id, "key": k, "value": x} for k, x in param_rows.items()],
        )
    return get(conn, model_id)


def get(conn: Connection, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    return load(conn, [_row(conn, model_id, allow_deleted=allow_deleted)])[0]


def finalize(
    conn: Connection, model_id: str, status: LoggedModelStatus | str | int, status_message: str | None = None
) -> LoggedModel:
    parsed = LoggedModelStatus.parse(status)
    if status_message is not None and len(status_message) > MAX_STATUS_MESSAGE_LENGTH:
        status_message = status_message[:MAX_STATUS_MESSAGE_LENGTH]
    row = _row(conn, model_id)
    _touch(conn, row.id, status=parsed.value, status_message=status_message)
    return get(conn, model_id)


def delete_model(conn: Connection, model_id: str) -> None:
    row = _row(conn, model_id)
    _touch(conn, row.id, lifecycle_stage=DELETED)


def set_tags(conn: Connection, model_id: str, tags: Mapping[str, str]) -> None:
    rows = validate_tags(tags)
    row = _row(conn, model_id)
    if rows:
        upsert(
            conn,
            db.logged_model_tags,
            [{"model_id": row.id, "key": k, "value": x} for k, x in rows.items()],
            keys=("model_id", "key"),
            update=("value",),
        )
        _touch(conn, row.id)


def delete_tag(conn: Connection, model_id: str, key: str) -> None:
    row = _row(conn, model_id)
    t = db.logged_model_tags
    if not conn.execute(delete(t).where(t.c.model_id == row.id, t.c.key == key)).rowcount:
        raise ResourceDoesNotExist(f"No tag with key '{key}' found for model with ID '{model_id}'.")
    _touch(conn, row.id)


def log_params(conn: Connection, model_id: str, params: Mapping[str, str]) -> None:
    """Add params; re-logging a key with the same value is a no-op, with another value an error."""
    rows = {k: v.validate_param(k, val) for k, val in params.items()}
    row = _row(conn, model_id)
    if not rows:
        return
    t = db.logged_model_params
    existing = dict(
        conn.execute(select(t.c.key, t.c.value).where(t.c.model_id == row.id, t.c.key.in_(list(rows)))).all()
    )
    changed = [k for k, val in rows.items() if k in existing and existing[k] != val]
    if changed:
        raise InvalidParameterValue(
            f"Changing param values is not allowed. Params {', '.join(repr(k) for k in changed)} were already "
            f"logged with different values for model '{model_id}'."
        )
    new = [{"model_id": row.id, "key": k, "value": val} for k, val in rows.items() if k not in existing]
    if new:
        conn.execute(t.insert(), new)
        _touch(conn, row.id)


def log_metrics(conn: Connection, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
    """Link metric points of run ``run_id`` to their logged models (each metric names its model_id).

    Points equal to one already stored (same model, key, value, timestamp, step, run and dataset)
    are skipped, so a client that re-sends a batch does not duplicate them.
    """
    rows = []
    for m in metrics:
        if not m.model_id:
            raise InvalidParameterValue(f"Metric '{m.key}' names no model_id")
        value = v.validate_metric(m.key, m.value, m.timestamp, m.step)
        if (
            len(m.dataset_name or "") > v.MAX_DATASET_NAME_LENGTH
            or len(m.dataset_digest or "") > v.MAX_DATASET_DIGEST_LENGTH
        ):
            raise InvalidParameterValue(
                f"Metric '{m.key}': dataset_name may have at most {v.MAX_DATASET_NAME_LENGTH} characters and "
                f"dataset_digest at most {v.MAX_DATASET_DIGEST_LENGTH}"
            )
        stored, is_nan = metric_to_db(value)
        rows.append(
            {
                "model": m.model_id,
                "key": m.key,
                "value": stored,
                "timestamp": int(m.timestamp),
                "step": int(m.step),
                "is_nan": is_nan,
                "run_id": run_id,
                "dataset_name": m.dataset_name or "",
                "dataset_digest": m.dataset_digest or "",
            }
        )
    if not rows:
        return
    _run_row(conn, run_id)
    ids = _model_ids(conn, (r["model"] for r in rows))
    t = db.logged_model_metrics
    existing = {
        _point_key(r._mapping)
        for r in conn.execute(
            select(t).where(
                t.c.model_id.in_(list(ids.values())),
                t.c.run_id == run_id,
                t.c.key.in_(sorted({r["key"] for r in rows})),
            )
        )
    }
    new = []
    for r in rows:
        r["model_id"] = ids[r.pop("model")]
        if _point_key(r) not in existing:
            existing.add(_point_key(r))
            new.append(r)
    if new:
        conn.execute(t.insert(), new)


def _point_key(r: Mapping[str, Any]) -> tuple:
    return tuple(
        r[c]
        for c in ("model_id", "key", "value", "timestamp", "step", "is_nan", "dataset_name", "dataset_digest")
    )


def log_outputs(
    conn: Connection, run_id: str, outputs: Sequence[LoggedModelOutput | tuple[str, int]]
) -> None:
    """Record models (``LoggedModelOutput`` or ``(model_id, step)``) as outputs of the run (idempotent)."""
    pairs = [(o.model_id, o.step) if isinstance(o, LoggedModelOutput) else (o[0], o[1]) for o in outputs]
    for model_id, step in pairs:
        if isinstance(step, bool) or not isinstance(step, int) or not v.INT64_MIN <= step <= v.INT64_MAX:
            raise InvalidParameterValue(f"Invalid step {step!r} for model output '{model_id}'")
    run = _run_row(conn, run_id)
    if not pairs:
        return
    ids = _model_ids(conn, (m for m, _ in pairs))
    t = db.run_outputs
    existing = {(m, s) for m, s in conn.execute(select(t.c.model_id, t.c.step).where(t.c.run_id == run.id))}
    new = {(ids[m], int(s)) for m, s in pairs} - existing
    if new:
        conn.execute(t.insert(), [{"run_id": run.id, "model_id": m, "step": s} for m, s in sorted(new)])


def log_model_inputs(conn: Connection, run_id: str, model_ids: Sequence[str]) -> None:
    """Record logged models as inputs of the run (idempotent)."""
    run = _run_row(conn, run_id)
    if not model_ids:
        return
    ids = _model_ids(conn, model_ids)
    t = db.run_model_inputs
    existing = set(conn.execute(select(t.c.model_id).where(t.c.run_id == run.id)).scalars())
    new = sorted(set(ids.values()) - existing)
    if new:
        conn.execute(t.insert(), [{"run_id": run.id, "model_id": m} for m in new])


# -- hydration ---------------------------------------------------------------------------------
def load(conn: Connection, rows: Sequence) -> list[LoggedModel]:
    """LoggedModel entities (tags, params, every linked metric point) for rows of ``logged_models``."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    params: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, list[LoggedModelMetric]] = defaultdict(list)
    public = {r.id: r.model_id for r in rows}
    mt, pt, tt = db.logged_model_metrics, db.logged_model_params, db.logged_model_tags
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for mid, key, value in conn.execute(
            select(tt.c.model_id, tt.c.key, tt.c.value).where(tt.c.model_id.in_(chunk))
        ):
            tags[mid][key] = value
        for mid, key, value in conn.execute(
            select(pt.c.model_id, pt.c.key, pt.c.value).where(pt.c.model_id.in_(chunk))
        ):
            params[mid][key] = value
        for r in conn.execute(
            select(mt).where(mt.c.model_id.in_(chunk)).order_by(mt.c.key, mt.c.timestamp, mt.c.step, mt.c.id)
        ):
            metrics[r.model_id].append(
                LoggedModelMetric(
                    key=r.key,
                    value=metric_from_db(r.value, r.is_nan),
                    timestamp=r.timestamp,
                    step=r.step,
                    run_id=r.run_id or None,
                    model_id=public[r.model_id],
                    dataset_name=r.dataset_name or None,
                    dataset_digest=r.dataset_digest or None,
                )
            )
    return [
        LoggedModel(
            model_id=r.model_id,
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location,
            creation_timestamp=r.creation_timestamp_ms,
            last_updated_timestamp=r.last_updated_timestamp_ms,
            status=LoggedModelStatus.parse(r.status),
            model_type=r.model_type,
            source_run_id=r.source_run_id,
            status_message=r.status_message,
            lifecycle_stage=r.lifecycle_stage,
            tags=dict(sorted(tags.get(r.id, {}).items())),
            params=dict(sorted(params.get(r.id, {}).items())),
            metrics=tuple(metrics.get(r.id, ())),
        )
        for r in rows
    ]
