"""Registered models in SQL: create, read, rename, update, delete, tags. Functions over one open
connection; ``SqlRegistryStore`` owns the transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from modelyard.entities import RegisteredModel
from modelyard.entities import webhook as events
from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.store.registry import checks
from modelyard.store.registry import tables as db
from modelyard.store.registry.sql import hydrate, outbox
from modelyard.store.sql.common import now_ms
from modelyard.store.sql.dml import upsert

rm = db.registered_models


def row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    """The model's row; ``lock`` holds it until commit (PostgreSQL, MySQL; SQLite writers are serial)."""
    checks.model_name(name)
    stmt = select(*hydrate.MODEL_COLUMNS, rm.c.last_version).where(rm.c.name == name)
    found = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        raise ResourceDoesNotExist(f"Registered Model with name={name} not found")
    return found


def touch(conn: Connection, rm_id: int, when: int | None = None) -> None:
    conn.execute(update(rm).where(rm.c.id == rm_id).values(last_updated_time=when or now_ms()))


def load(conn: Connection, name: str) -> RegisteredModel:
    return hydrate.load_models(conn, [row(conn, name)])[0]


def create(
    conn: Connection,
    name: str,
    tags: dict[str, str] | None,
    description: str | None,
    deployment_job_id: str | None,
    user_id: str | None,
) -> RegisteredModel:
    checks.model_name(name)
    tag_map = checks.tags(tags)
    checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH)
    if conn.execute(select(rm.c.id).where(rm.c.name == name)).first() is not None:
        raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
    t = now_ms()
    rm_id = conn.execute(
        rm.insert().values(
            name=name,
            creation_time=t,
            last_updated_time=t,
            description=description or None,
            user_id=user_id or None,
            deployment_job_id=deployment_job_id or None,
            last_version=0,
        )
    ).inserted_primary_key[0]
    if tag_map:
        conn.execute(
            db.registered_model_tags.insert(),
            [{"rm_id": rm_id, "key": k, "value": val} for k, val in tag_map.items()],
        )
    outbox.emit(
        conn,
        events.REGISTERED_MODEL_CREATED,
        {"name": name, "tags": tag_map, "description": description or None},
    )
    return RegisteredModel(
        name=name,
        creation_timestamp=t,
        last_updated_timestamp=t,
        description=description or None,
        user_id=user_id or None,
        tags=dict(sorted(tag_map.items())),
        deployment_job_id=deployment_job_id or None,
    )


def rename(conn: Connection, name: str, new_name: str) -> RegisteredModel:
    checks.model_name(new_name, "new_name")
    found = row(conn, name, lock=True)
    if new_name != name:
        if conn.execute(select(rm.c.id).where(rm.c.name == new_name)).first() is not None:
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
        conn.execute(update(rm).where(rm.c.id == found.id).values(name=new_name, last_updated_time=now_ms()))
        history = db.promotion_history
        conn.execute(update(history).where(history.c.rm_id == found.id).values(name=new_name))
    return load(conn, new_name)


def update_fields(
    conn: Connection, name: str, description: str | None, deployment_job_id: str | None
) -> RegisteredModel:
    checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH)
    found = row(conn, name, lock=True)
    values: dict[str, Any] = {"last_updated_time": now_ms()}
    if description is not None:
        values["description"] = description or None
    if deployment_job_id is not None:
        values["deployment_job_id"] = deployment_job_id or None
    conn.execute(update(rm).where(rm.c.id == found.id).values(**values))
    return load(conn, name)


def remove(conn: Connection, name: str) -> None:
    found = row(conn, name, lock=True)
    # Children first: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON, which a
    # connection made elsewhere may not have.
    versions = select(db.model_versions.c.id).where(db.model_versions.c.rm_id == found.id)
    conn.execute(delete(db.model_version_tags).where(db.model_version_tags.c.mv_id.in_(versions)))
    for table in (db.model_versions, db.registered_model_aliases, db.registered_model_tags):
        conn.execute(delete(table).where(table.c.rm_id == found.id))
    conn.execute(delete(rm).where(rm.c.id == found.id))


def set_tag(conn: Connection, name: str, key: str, value: str) -> None:
    text = checks.tag(key, value)
    found = row(conn, name, lock=True)
    upsert(conn, db.registered_model_tags, [{"rm_id": found.id, "key": key, "value": text}], ["rm_id", "key"], ["value"])


def delete_tag(conn: Connection, name: str, key: str) -> None:
    """Deleting a tag that is not set is a no-op (as MLflow)."""
    checks.tag(key, "")
    found = row(conn, name, lock=True)
    tags = db.registered_model_tags
    conn.execute(delete(tags).where(tags.c.rm_id == found.id, tags.c.key == key))
