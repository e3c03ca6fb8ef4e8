"""Aliases and the promotion history (alias moves and stage transitions, append-only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, delete, select, update

from modelyard.entities import ModelVersion, PagedList, PromotionEvent
from modelyard.entities import webhook as events
from modelyard.entities.registry import STAGE_DELETED_INTERNAL, ModelVersionStage, PromotionKind
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.search.paging import decode_page_token, encode_page_token, token_int
from modelyard.store.registry import checks
from modelyard.store.registry import tables as db
from modelyard.store.registry.sql import hydrate, models, outbox
from modelyard.store.sql.common import now_ms

aliases = db.registered_model_aliases
history = db.promotion_history
mv = db.model_versions


def record(
    conn: Connection,
    model: Any,
    kind: PromotionKind,
    target: str,
    action: str,
    user_id: str | None,
    *,
    from_version: int | None = None,
    to_version: int | None = None,
    from_stage: str | None = None,
    to_stage: str | None = None,
    reason: str | None = None,
    when: int | None = None,
) -> None:
    conn.execute(
        history.insert().values(
            rm_id=model.id,
            name=model.name,
            kind=kind.value,
            target=target,
            action=action,
            from_version=from_version,
            to_version=to_version,
            from_stage=from_stage,
            to_stage=to_stage,
            reason=reason,
            user_id=user_id or None,
            timestamp=when or now_ms(),
        )
    )


def live_version(conn: Connection, model: Any, version: int) -> Any:
    row = conn.execute(
        hydrate.versions_query()
        .add_columns(mv.c.storage_location)
        .where(mv.c.rm_id == model.id, mv.c.version == version, mv.c.current_stage != STAGE_DELETED_INTERNAL)
    ).first()
    if row is None:
        raise ResourceDoesNotExist(f"Model Version (name={model.name}, version={version}) not found")
    return row


def set_alias(
    conn: Connection, name: str, alias: str, version: object, user_id: str | None, *, reason: str | None = None
) -> None:
    checks.settable_alias(alias)
    number = checks.version_number(version)
    model = models.row(conn, name, lock=True)
    live_version(conn, model, number)
    current = conn.execute(
        select(aliases.c.version).where(aliases.c.rm_id == model.id, aliases.c.alias == alias)
    ).scalar()
    if current is None:
        conn.execute(aliases.insert().values(rm_id=model.id, alias=alias, version=number))
        record(conn, model, PromotionKind.ALIAS, alias, "created", user_id, to_version=number, reason=reason)
    elif current != number:
        conn.execute(
            update(aliases).where(aliases.c.rm_id == model.id, aliases.c.alias == alias).values(version=number)
        )
        record(
            conn, model, PromotionKind.ALIAS, alias, "moved", user_id, from_version=current, to_version=number,
            reason=reason,
        )
    outbox.emit(
        conn,
        events.MODEL_VERSION_ALIAS_CREATED,
        {"name": name, "alias": alias, "version": str(number), "previous_version": _text(current)},
    )


def delete_alias(conn: Connection, name: str, alias: str, user_id: str | None) -> None:
    """Deleting an alias that is not set is a no-op (as MLflow)."""
    checks.alias_name(alias)
    model = models.row(conn, name, lock=True)
    current = conn.execute(
        select(aliases.c.version).where(aliases.c.rm_id == model.id, aliases.c.alias == alias)
    ).scalar()
    if current is None:
        return
    conn.execute(delete(aliases).where(aliases.c.rm_id == model.id, aliases.c.alias == alias))
    record(conn, model, PromotionKind.ALIAS, alias, "deleted", user_id, from_version=current)
    outbox.emit(
        conn, events.MODEL_VERSION_ALIAS_DELETED, {"name": name, "alias": alias, "version": str(current)}
    )


def drop_aliases_of(conn: Connection, model: Any, version: int, user_id: str | None) -> None:
    """A version is being deleted: its aliases go, and the history says why."""
    gone = conn.execute(
        select(aliases.c.alias).where(aliases.c.rm_id == model.id, aliases.c.version == version)
    ).scalars().all()
    if not gone:
        return
    conn.execute(delete(aliases).where(aliases.c.rm_id == model.id, aliases.c.version == version))
    for alias in gone:
        record(
            conn, model, PromotionKind.ALIAS, alias, "deleted", user_id, from_version=version, reason="version deleted"
        )
        outbox.emit(
            conn, events.MODEL_VERSION_ALIAS_DELETED, {"name": model.name, "alias": alias, "version": str(version)}
        )


def by_alias(conn: Connection, name: str, alias: str) -> ModelVersion:
    checks.alias_name(alias)
    model = models.row(conn, name)
    if alias.lower() == "latest":
        row = conn.execute(
            hydrate.versions_query()
            .where(mv.c.rm_id == model.id, mv.c.current_stage != STAGE_DELETED_INTERNAL)
            .order_by(mv.c.version.desc())
            .limit(1)
        ).first()
        if row is None:
            raise ResourceDoesNotExist(f"Latest version not found for model {name}.")
        return hydrate.load_versions(conn, [row])[0]
    current = conn.execute(
        select(aliases.c.version).where(aliases.c.rm_id == model.id, aliases.c.alias == alias)
    ).scalar()
    if current is None:  # MLflow answers INVALID_PARAMETER_VALUE here, and clients expect it
        raise InvalidParameterValue(f"Registered model alias {alias} not found.")
    return hydrate.load_versions(conn, [live_version(conn, model, current)])[0]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _event(row: Any) -> PromotionEvent:
    return PromotionEvent(
        event_id=row.id,
        name=row.name,
        kind=row.kind,
        target=row.target,
        action=row.action,
        timestamp=row.timestamp,
        user_id=row.user_id,
        from_version=_text(row.from_version),
        to_version=_text(row.to_version),
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        reason=row.reason,
    )


def get_history(
    conn: Connection,
    name: str,
    alias: str | None,
    stage: str | None,
    max_results: int,
    page_token: str | None,
) -> PagedList[PromotionEvent]:
    """Newest first; a live model's events by its id (renames included), a deleted one's by name."""
    checks.model_name(name)
    if alias is not None and stage is not None:
        raise InvalidParameterValue("Pass alias or stage, not both")
    model = conn.execute(select(db.registered_models.c.id).where(db.registered_models.c.name == name)).first()
    conditions = [history.c.rm_id == model.id] if model is not None else [history.c.name == name]
    if alias is not None:
        checks.alias_name(alias)
        conditions += [history.c.kind == PromotionKind.ALIAS.value, history.c.target == alias]
    if stage is not None:
        canonical = ModelVersionStage.parse(stage).value
        conditions += [
            history.c.kind == PromotionKind.STAGE.value,
            sa.or_(history.c.from_stage == canonical, history.c.to_stage == canonical),
        ]
    query = ("promotion_history", name, alias, stage)
    payload = decode_page_token(page_token, query=query)
    if payload:
        conditions.append(history.c.id < token_int(payload, "before"))
    rows = conn.execute(
        select(history).where(*conditions).order_by(history.c.id.desc()).limit(max_results + 1)
    ).all()
    token = encode_page_token({"before": rows[max_results - 1].id}, query=query) if len(rows) > max_results else None
    return PagedList([_event(r) for r in rows[:max_results]], token)
