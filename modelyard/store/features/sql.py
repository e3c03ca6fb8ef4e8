"""The SQL feature catalog: feature tables in the tracking database (SQLite, PostgreSQL, MariaDB).

It uses the tracking store's transactions (same engine, same SQLite writer queue), so database
errors become the modelyard error tree in one place. Every public method is one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select, update

from modelyard import validation as v
from modelyard.entities.feature_table import FeatureColumn, FeatureTable, OnlinePublish
from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.store.features import base
from modelyard.store.features.tables import feature_table_online, feature_table_tags, feature_tables
from modelyard.store.sql import queue

T = feature_tables


def _now_ms() -> int:
    return int(time.time() * 1000)


def _missing(name: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Feature table {name!r} does not exist")


def _emit_updated(conn: Connection, name: str, version: int, change: base.Change | None) -> None:
    """The platform event of a feature table's new version (``feature_table.updated`` on the
    kernel's event queue, in the transaction that records the version: the jobs scheduler turns it
    into ``feature_table_updated`` triggers, keyed ``<table>@<version>``)."""
    change = base.change_of(change)
    queue.put_event(conn, base.TABLE_UPDATED, {"table": name, "version": int(version), **change})


class SqlFeatureStore(base.FeatureCatalogStore):
    def __init__(self, tracking_store, artifact_root: str | None = None) -> None:
        self._tracking = tracking_store
        self.default_artifact_root = artifact_root or tracking_store.default_artifact_root

    @classmethod
    def from_tracking_store(cls, tracking_store, settings=None) -> SqlFeatureStore:
        return cls(tracking_store)

    def __repr__(self) -> str:
        return f"SqlFeatureStore({self._tracking.engine.url.render_as_string()!r})"

    def default_location(self, name: str) -> str:
        return self.default_artifact_root.rstrip("/") + "/feature-tables/" + name

    # -- helpers ------------------------------------------------------------------------------
    def _id(self, conn: Connection, name: str, *, lock: bool = False) -> int:
        query = select(T.c.id).where(T.c.name == name)
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found = conn.execute(query).scalar()
        if found is None:
            raise _missing(name)
        return found

    def _load(self, conn: Connection, name: str) -> FeatureTable:
        row = conn.execute(select(T).where(T.c.name == name)).mappings().first()
        if row is None:
            raise _missing(name)
        return self._hydrate(conn, [row])[0]

    def _hydrate(self, conn: Connection, rows) -> list[FeatureTable]:
        ids = [r["id"] for r in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        online: dict[int, list[OnlinePublish]] = {i: [] for i in ids}
        if ids:
            for tid, key, value in conn.execute(
                select(feature_table_tags.c.table_id, feature_table_tags.c.key, feature_table_tags.c.value)
                .where(feature_table_tags.c.table_id.in_(ids))
                .order_by(feature_table_tags.c.key)
            ):
                tags[tid][key] = value
            o = feature_table_online.c
            for tid, store, version, when in conn.execute(
                select(o.table_id, o.online_store, o.version, o.published_time)
                .where(o.table_id.in_(ids))
                .order_by(o.online_store)
            ):
                online[tid].append(OnlinePublish(store, int(version), int(when)))
        return [
            FeatureTable(
                name=r["name"],
                primary_keys=tuple(json.loads(r["primary_keys"])),
                timestamp_keys=tuple(json.loads(r["timestamp_keys"])),
                columns=tuple(FeatureColumn.from_dict(c) for c in json.loads(r["columns"])),
                location=r["location"],
                current_version=int(r["current_version"]),
                creation_time=int(r["creation_time"]),
                last_updated_time=int(r["last_updated_time"]),
                description=r["description"],
                creator=r["creator"],
                tags=tags[r["id"]],
                online_stores=tuple(online[r["id"]]),
            )
            for r in rows
        ]

    # -- catalog ------------------------------------------------------------------------------
    def create_feature_table(
        self,
        name: str,
        primary_keys: Sequence[str],
        timestamp_keys: Sequence[str],
        columns: Sequence[FeatureColumn],
        location: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        creator: str | None = None,
        change: base.Change | None = None,
    ) -> FeatureTable:
        base.validate_table_name(name)
        now = _now_ms()
        with self._tracking._write() as conn:
            if conn.execute(select(T.c.id).where(T.c.name == name)).first() is not None:
                raise ResourceAlreadyExists(f"Feature table {name!r} already exists")
            table_id = conn.execute(
                insert(T).values(
                    name=name,
                    primary_keys=json.dumps(list(primary_keys)),
                    timestamp_keys=json.dumps(list(timestamp_keys)),
                    columns=json.dumps([c.to_dict() for c in columns]),
                    location=location,
                    current_version=version,
                    description=description,
                    creator=creator,
                    creation_time=now,
                    last_updated_time=now,
                )
            ).inserted_primary_key[0]
            for key, value in (tags or {}).items():
                v.validate_tag(key, value)
                conn.execute(insert(feature_table_tags).values(table_id=table_id, key=key, value=str(value)))
            if base.has_rows(change):  # a table created with data: its first version is news
                _emit_updated(conn, name, version, {"operation": "create", **(change or {})})
            return self._load(conn, name)

    def get_feature_table(self, name: str) -> FeatureTable:
        with self._tracking._read() as conn:
            return self._load(conn, name)

    def search_feature_tables(
        self, name_like: str | None = None, max_results: int = base.MAX_RESULTS_DEFAULT
    ) -> list[FeatureTable]:
        max_results = v.validate_max_results(max_results, base.MAX_RESULTS_LIMIT)
        query = select(T).order_by(T.c.name).limit(max_results)
        if name_like:
            query = query.where(T.c.name.like(name_like))
        with self._tracking._read() as conn:
            return self._hydrate(conn, list(conn.execute(query).mappings()))

    def update_feature_table(
        self,
        name: str,
        *,
        columns: Sequence[FeatureColumn] | None = None,
        version: int | None = None,
        description: str | None = None,
        change: base.Change | None = None,
    ) -> FeatureTable:
        """``change`` (operation and row counts of the write that made ``version``) goes into the
        ``feature_table.updated`` event a new version emits."""
        values: dict = {"last_updated_time": _now_ms()}
        if columns is not None:
            values["columns"] = json.dumps([c.to_dict() for c in columns])
        if version is not None:
            values["current_version"] = version
        if description is not None:
            values["description"] = description
        with self._tracking._write() as conn:
            table_id = self._id(conn, name, lock=True)  # writers of one table take turns here
            before = conn.execute(select(T.c.current_version).where(T.c.id == table_id)).scalar()
            conn.execute(update(T).where(T.c.id == table_id).values(**values))
            if version is not None and int(version) != int(before):
                _emit_updated(conn, name, version, change)
            return self._load(conn, name)

    def set_feature_table_tag(self, name: str, key: str, value: str) -> None:
        v.validate_tag(key, value)
        t = feature_table_tags
        with self._tracking._write() as conn:
            table_id = self._id(conn, name, lock=True)
            conn.execute(delete(t).where(t.c.table_id == table_id, t.c.key == key))
            conn.execute(insert(t).values(table_id=table_id, key=key, value=str(value)))

    def delete_feature_table_tag(self, name: str, key: str) -> None:
        t = feature_table_tags
        with self._tracking._write() as conn:
            table_id = self._id(conn, name)
            if not conn.execute(delete(t).where(t.c.table_id == table_id, t.c.key == key)).rowcount:
                raise ResourceDoesNotExist(f"Feature table {name!r} has no tag {key!r}")

    def delete_feature_table(self, name: str) -> None:
        with self._tracking._write() as conn:
            table_id = self._id(conn, name)
            # Children first: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
            conn.execute(delete(feature_table_tags).where(feature_table_tags.c.table_id == table_id))
            conn.execute(delete(feature_table_online).where(feature_table_online.c.table_id == table_id))
            conn.execute(delete(T).where(T.c.id == table_id))

    def record_publish(self, name: str, online_store: str, version: int) -> None:
        o = feature_table_online
        with self._tracking._write() as conn:
            table_id = self._id(conn, name, lock=True)
            conn.execute(delete(o).where(o.c.table_id == table_id, o.c.online_store == online_store))
            conn.execute(
                insert(o).values(table_id=table_id, online_store=online_store, version=version, published_time=_now_ms())
            )
