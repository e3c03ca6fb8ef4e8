"""Model versions in SQL: create (numbering, source checks, lineage), read, update, delete
(tombstone), tags, stage transitions, latest versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, delete, select, update

from modelyard.entities import ModelVersion
from modelyard.entities import webhook as events
from modelyard.entities.registry import (
    STAGE_DELETED_INTERNAL,
    ModelVersionStage,
    ModelVersionStatus,
    PromotionKind,
)
from modelyard.exceptions import InvalidParameterValue
from modelyard.store.registry import checks, sources
from modelyard.store.registry import tables as db
from modelyard.store.registry.sql import aliases, hydrate, lineage, models, outbox
from modelyard.store.sql.common import now_ms
from modelyard.store.sql.dml import upsert

mv = db.model_versions
ALL_STAGES = tuple(ModelVersionStage)


def row(conn: Connection, name: str, version: object, *, lock: bool = False) -> tuple[Any, Any]:
    """(model row, live version row); locking the model serializes writers to its versions."""
    number = checks.version_number(version)
    model = models.row(conn, name, lock=lock)
    return model, aliases.live_version(conn, model, number)


def refresh_latest(conn: Connection, rm_id: int, stage: str) -> None:
    """Mark the newest version of (model, stage) as ``is_latest`` again after a change there."""
    if stage == STAGE_DELETED_INTERNAL:
        return
    in_stage = (mv.c.rm_id == rm_id, mv.c.current_stage == stage)
    conn.execute(update(mv).where(*in_stage, mv.c.is_latest == sa.true()).values(is_latest=False))
    newest = conn.execute(select(mv.c.id).where(*in_stage).order_by(mv.c.version.desc()).limit(1)).scalar()
    if newest is not None:
        conn.execute(update(mv).where(mv.c.id == newest).values(is_latest=True))


def load(conn: Connection, name: str, version: object) -> ModelVersion:
    return hydrate.load_versions(conn, [row(conn, name, version)[1]])[0]


def create(
    conn: Connection,
    name: str,
    source: str,
    run_id: str | None,
    tags: dict[str, str] | None,
    run_link: str | None,
    description: str | None,
    model_id: str | None,
    user_id: str | None,
) -> ModelVersion:
    checks.model_name(name)
    tag_map = checks.tags(tags)
    checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH)
    checks.text(run_link, "run_link", checks.MAX_RUN_LINK_LENGTH)
    parsed = sources.parse(source)
    model = models.row(conn, name, lock=True)
    resolved = lineage.resolve(conn, parsed, run_id or None, model_id or None)
    number = model.last_version + 1
    t = now_ms()
    conn.execute(
        update(db.registered_models)
        .where(db.registered_models.c.id == model.id)
        .values(last_version=number, last_updated_time=t)
    )
    mv_id = conn.execute(
        mv.insert().values(
            rm_id=model.id,
            version=number,
            creation_time=t,
            last_updated_time=t,
            description=description or None,
            user_id=user_id or None,
            current_stage=ModelVersionStage.NONE.value,
            source=source,
            storage_location=resolved.storage_location,
            run_id=resolved.run_id,
            run_link=run_link or None,
            model_id=resolved.model_id,
            status=ModelVersionStatus.READY.value,
            is_latest=False,
        )
    ).inserted_primary_key[0]
    refresh_latest(conn, model.id, ModelVersionStage.NONE.value)
    if tag_map:
        conn.execute(db.model_version_tags.insert(), [{"mv_id": mv_id, "key": k, "value": val} for k, val in tag_map.items()])
    created = ModelVersion(
        name=name,
        version=str(number),
        creation_timestamp=t,
        last_updated_timestamp=t,
        description=description or None,
        user_id=user_id or None,
        source=source,
        run_id=resolved.run_id,
        run_link=run_link or None,
        model_id=resolved.model_id,
        tags=dict(sorted(tag_map.items())),
    )
    outbox.emit(
        conn,
        events.MODEL_VERSION_CREATED,
        {
            "name": name,
            "version": str(number),
            "source": source,
            "run_id": resolved.run_id,
            "model_id": resolved.model_id,
            "tags": tag_map,
            "description": description or None,
        },
    )
    return created


def update_description(conn: Connection, name: str, version: object, description: str | None) -> ModelVersion:
    checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH)
    model, found = row(conn, name, version, lock=True)
    conn.execute(update(mv).where(mv.c.id == found.id).values(description=description or None, last_updated_time=now_ms()))
    return load(conn, name, version)


def tombstone(conn: Connection, name: str, version: object, user_id: str | None) -> None:
    """Deleted versions keep their row (so the number is never reused) with lineage redacted."""
    model, found = row(conn, name, version, lock=True)
    t = now_ms()
    aliases.drop_aliases_of(conn, model, found.version, user_id)
    conn.execute(delete(db.model_version_tags).where(db.model_version_tags.c.mv_id == found.id))
    conn.execute(
        update(mv)
        .where(mv.c.id == found.id)
        .values(
            current_stage=STAGE_DELETED_INTERNAL,
            last_updated_time=t,
            description=None,
            user_id=None,
            source="REDACTED-SOURCE-PATH",
            storage_location=None,
            run_id=None,
            run_link=None,
            model_id=None,
            status_message=None,
            is_latest=False,
        )
    )
    refresh_latest(conn, model.id, found.current_stage)
    models.touch(conn, model.id, t)


def set_tag(conn: Connection, name: str, version: object, key: str, value: str) -> None:
    text = checks.tag(key, value)
    _, found = row(conn, name, version, lock=True)
    upsert(conn, db.model_version_tags, [{"mv_id": found.id, "key": key, "value": text}], ["mv_id", "key"], ["value"])
    outbox.emit(
        conn, events.MODEL_VERSION_TAG_SET, {"name": name, "version": str(found.version), "key": key, "value": text}
    )


def delete_tag(conn: Connection, name: str, version: object, key: str) -> None:
    """Deleting a tag that is not set is a no-op (as MLflow)."""
    checks.tag(key, "")
    _, found = row(conn, name, version, lock=True)
    tags = db.model_version_tags
    gone = conn.execute(delete(tags).where(tags.c.mv_id == found.id, tags.c.key == key)).rowcount
    if gone:
        outbox.emit(conn, events.MODEL_VERSION_TAG_DELETED, {"name": name, "version": str(found.version), "key": key})


def download_uri(conn: Connection, name: str, version: object) -> str:
    _, found = row(conn, name, version)
    return found.storage_location or found.source


def transition(
    conn: Connection, name: str, version: object, stage: str, archive_existing: bool, user_id: str | None
) -> ModelVersion:
    target_stage = ModelVersionStage.parse(stage)
    if archive_existing and not target_stage.is_active:
        raise InvalidParameterValue(
            f"Model version transition cannot archive existing model versions because '{stage}' is not "
            "an Active stage. Valid stages are Staging, Production"
        )
    model, found = row(conn, name, version, lock=True)
    t = now_ms()
    archived: list[int] = []
    if archive_existing:
        others = select(mv.c.id, mv.c.version).where(
            mv.c.rm_id == model.id, mv.c.version != found.version, mv.c.current_stage == target_stage.value
        )
        for other in conn.execute(others.order_by(mv.c.version)).all():
            conn.execute(
                update(mv)
                .where(mv.c.id == other.id)
                .values(current_stage=ModelVersionStage.ARCHIVED.value, last_updated_time=t)
            )
            aliases.record(
                conn,
                model,
                PromotionKind.STAGE,
                ModelVersionStage.ARCHIVED.value,
                "archived",
                user_id,
                to_version=other.version,
                from_stage=target_stage.value,
                to_stage=ModelVersionStage.ARCHIVED.value,
                reason="archive_existing_versions",
                when=t,
            )
            archived.append(other.version)
    previous = found.current_stage
    conn.execute(update(mv).where(mv.c.id == found.id).values(current_stage=target_stage.value, last_updated_time=t))
    for stage in {previous, target_stage.value} | ({ModelVersionStage.ARCHIVED.value} if archived else set()):
        refresh_latest(conn, model.id, stage)
    models.touch(conn, model.id, t)
    if previous != target_stage.value:
        aliases.record(
            conn,
            model,
            PromotionKind.STAGE,
            target_stage.value,
            "transitioned",
            user_id,
            to_version=found.version,
            from_stage=previous,
            to_stage=target_stage.value,
            when=t,
        )
    outbox.emit(
        conn,
        events.MODEL_VERSION_STAGE_TRANSITIONED,
        {
            "name": name,
            "version": str(found.version),
            "from_stage": previous,
            "to_stage": target_stage.value,
            "archived_versions": [str(n) for n in archived],
        },
    )
    return load(conn, name, found.version)


def latest(conn: Connection, name: str, stages: Sequence[str] | None) -> list[ModelVersion]:
    wanted = [ModelVersionStage.parse(s) for s in stages] if stages else list(ALL_STAGES)
    model = models.row(conn, name)
    values = [s.value for s in wanted]
    rows = conn.execute(
        hydrate.versions_query().where(
            mv.c.rm_id == model.id, mv.c.is_latest == sa.true(), mv.c.current_stage.in_(values)
        )
    ).all()
    order = {stage: i for i, stage in enumerate(values)}
    rows.sort(key=lambda r: order[r.current_stage])
    return hydrate.load_versions(conn, rows)


def registrations(conn: Connection, model_id: str) -> list[ModelVersion]:
    rows = conn.execute(
        hydrate.versions_query()
        .where(mv.c.model_id == model_id, mv.c.current_stage != STAGE_DELETED_INTERNAL)
        .order_by(db.registered_models.c.name, mv.c.version)
    ).all()
    return hydrate.load_versions(conn, rows)
