"""Online feature stores: the latest row per key, for lookups at serving time.

- Redis (``redis://host:port/db``, optional ``?prefix=...``): one hash per key,
  ``<prefix><table>:<key as JSON>``, one field per feature holding its JSON value; writes and reads
  are pipelined.
- SQL (any SQLAlchemy URI: ``sqlite:///...``, ``postgresql://...``, ``mysql://...``): one table
  ``modelyard_online_features (table_name, entity_key, payload)``.

``publish`` is incremental: it writes the keys whose latest row changed since the version last
published to that store and deletes keys that disappeared; the catalog remembers the version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pyarrow as pa

from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

CHUNK = 1000
DEFAULT_PREFIX = "modelyard:ft:"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def encode(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def entity_key(values: Sequence[Any]) -> str:
    return encode(list(values))


class OnlineStore(Protocol):
    uri: str  # without password: what the catalog records

    def write(self, table: str, keys: list[str], rows: list[dict[str, Any]]) -> None: ...

    def delete(self, table: str, keys: list[str]) -> None: ...

    def read(self, table: str, keys: list[str], features: Sequence[str]) -> list[dict[str, Any] | None]: ...

    def read_many(
        self, requests: Sequence[tuple[str, list[str], Sequence[str]]]
    ) -> list[list[dict[str, Any] | None]]:
        """``read`` of several (table, keys, features) at once (one round trip where the store can)."""
        ...

    def close(self) -> None: ...


def public_uri(uri: str) -> str:
    """``uri`` without its password (the catalog and the logs never hold one)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class RedisOnlineStore:
    def __init__(self, uri: str) -> None:
        import redis

        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        self.prefix = query.pop("prefix", [DEFAULT_PREFIX])[0]
        self.uri = public_uri(uri)
        self._redis = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query, doseq=True))))

    def _key(self, table: str, key: str) -> str:
        return f"{self.prefix}{table}:{key}"

    def write(self, table, keys, rows) -> None:
        for start in range(0, len(keys), CHUNK):
            pipe = self._redis.pipeline(transaction=False)
            for key, row in zip(keys[start : start + CHUNK], rows[start : start + CHUNK], strict=True):
                redis_key = self._key(table, key)
                pipe.delete(redis_key)
                pipe.hset(redis_key, mapping={k: encode(v) for k, v in row.items()})
            pipe.execute()

    def delete(self, table, keys) -> None:
        for start in range(0, len(keys), CHUNK):
            self._redis.delete(*[self._key(table, k) for k in keys[start : start + CHUNK]])

    def read(self, table, keys, features):
        return self.read_many([(table, keys, features)])[0]

    def read_many(self, requests):
        """One round trip for every (table, keys, features) request: a single HMGET for one key, a
        pipeline of HMGETs for more. A hash whose every requested field is missing may not exist:
        only those keys are checked (EXISTS), in a second round trip (a key that has no row, or a
        feature published before this one existed)."""
        calls = [(self._key(table, key), list(features)) for table, keys, features in requests for key in keys]
        if len(calls) == 1:
            answers = [self._redis.hmget(*calls[0])]
        else:
            pipe = self._redis.pipeline(transaction=False)
            for name, features in calls:
                pipe.hmget(name, features)
            answers = pipe.execute()
        empty = [i for i, values in enumerate(answers) if all(v is None for v in values)]
        exists: dict[int, int] = {}
        if empty:
            pipe = self._redis.pipeline(transaction=False)
            for i in empty:
                pipe.exists(calls[i][0])
            exists = dict(zip(empty, pipe.execute(), strict=True))
        rows: list[dict[str, Any] | None] = []
        for i, ((_, features), values) in enumerate(zip(calls, answers, strict=True)):
            if exists.get(i, 1) == 0:
                rows.append(None)
            else:
                rows.append({f: (json.loads(v) if v is not None else None) for f, v in zip(features, values, strict=True)})
        out, at = [], 0
        for _, keys, _ in requests:
            out.append(rows[at : at + len(keys)])
            at += len(keys)
        return out

    def close(self) -> None:
        self._redis.close()


class SqlOnlineStore:
    def __init__(self, uri: str) -> None:
        from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, Text

        from modelyard.store.sql.engine import create_db_engine

        self.uri = public_uri(uri)
        self.engine = create_db_engine(uri)
        metadata = MetaData()
        self.table = Table(
            "modelyard_online_features", metadata,
            Column("table_name", String(256), nullable=False),
            Column("entity_key", String(500), nullable=False),
            Column("payload", Text, nullable=False),
            PrimaryKeyConstraint("table_name", "entity_key", name="pk_modelyard_online_features"),
            mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
        )
        metadata.create_all(self.engine)

    def write(self, table, keys, rows) -> None:
        from sqlalchemy import delete, insert

        t = self.table
        with self.engine.begin() as conn:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                conn.execute(delete(t).where(t.c.table_name == table, t.c.entity_key.in_(chunk)))
                conn.execute(insert(t), [
                    {"table_name": table, "entity_key": k, "payload": encode(r)}
                    for k, r in zip(chunk, rows[start : start + CHUNK], strict=True)
                ])

    def delete(self, table, keys) -> None:
        from sqlalchemy import delete

        t = self.table
        with self.engine.begin() as conn:
            for start in range(0, len(keys), CHUNK):
                conn.execute(delete(t).where(t.c.table_name == table, t.c.entity_key.in_(keys[start : start + CHUNK])))

    def read(self, table, keys, features):
        from sqlalchemy import select

        t = self.table
        with self.engine.connect() as conn:
            found = dict(conn.execute(
                select(t.c.entity_key, t.c.payload).where(t.c.table_name == table, t.c.entity_key.in_(list(keys)))
            ).all())
        out: list[dict[str, Any] | None] = []
        for key in keys:
            payload = found.get(key)
            if payload is None:
                out.append(None)
            else:
                row = json.loads(payload)
                out.append({f: row.get(f) for f in features})
        return out

    def read_many(self, requests):
        return [self.read(table, keys, features) for table, keys, features in requests]

    def close(self) -> None:
        self.engine.dispose()


def open_store(uri: str) -> OnlineStore:
    scheme = urlsplit(uri).scheme.split("+", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        return RedisOnlineStore(uri)
    if scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        return SqlOnlineStore(uri)
    raise InvalidParameterValue(
        f"Unknown online store {public_uri(uri)!r}: use redis://host:port/db or a database URI (sqlite:///..., postgresql://...)"
    )


def keys_of(table: pa.Table, key_columns: Sequence[str]) -> list[str]:
    columns = [table.column(k).to_pylist() for k in key_columns]
    return [entity_key(values) for values in zip(*columns, strict=True)]
