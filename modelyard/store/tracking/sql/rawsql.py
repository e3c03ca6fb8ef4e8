"""The store's hot statements as SQL text run on the DB-API cursor, compiled once per dialect.

Building a SQLAlchemy Core statement and executing it costs 0.1-0.3 ms of Python per
statement (construction, cache key, parameter processing): more than SQLite needs to run it,
and the larger part of a ``log_metric`` call. The few statements every logging call runs
(find the run, read the latest points, insert points, upsert the latest) are therefore kept
here as text, with identifiers quoted by the dialect and ``?`` marks turned into the
driver's. Only SQLite and PostgreSQL take this path (both have ``ON CONFLICT ... DO UPDATE``);
MySQL/MariaDB keep the Core statements of store.py. Driver errors are wrapped as SQLAlchemy's
``DBAPIError`` so the store translates them as usual.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

DIALECTS = ("sqlite", "postgresql")
IN_CHUNK = 200  # marks per IN (...) list

_SQL: dict[tuple[str, str], str] = {}

_TEMPLATES = {
    "run": "SELECT id, lifecycle_stage FROM runs WHERE run_uuid = ?",
    "latest": "SELECT {key}, {value}, {ts}, {step}, is_nan FROM latest_metrics WHERE run_id = ? AND {key} IN ({marks})",
    "insert_metrics": "INSERT INTO metrics (run_id, {key}, {value}, {ts}, {step}, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
    "upsert_latest": "INSERT INTO latest_metrics (run_id, {key}, {value}, {ts}, {step}, is_nan) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, {key}) DO UPDATE SET {value} = excluded.{value}, "
    "{ts} = excluded.{ts}, {step} = excluded.{step}, is_nan = excluded.is_nan",
}
# PostgreSQL: one point that is also the key's new latest (a log_metric call), in one statement.
# The INSERT in the WITH clause runs once whether or not it is referenced.
_TEMPLATES["insert_one_upsert_latest"] = (
    "WITH point AS (" + _TEMPLATES["insert_metrics"] + ") " + _TEMPLATES["upsert_latest"]
)
# Held until commit, so concurrent writes to one run see each other (SQLite's BEGIN IMMEDIATE
# already serializes writers): the lock store.py takes with ``with_for_update(key_share=True)``.
_ROW_LOCK = {"postgresql": " FOR NO KEY UPDATE", "sqlite": ""}


def enabled(conn: Connection) -> bool:
    return conn.dialect.name in DIALECTS


def sql(conn: Connection, name: str, marks: int = 0) -> str:
    """The statement's text for this connection's dialect (``marks``: length of its IN list)."""
    dialect = conn.dialect.name
    key = (dialect, f"{name}/{marks}")
    text = _SQL.get(key)
    if text is None:
        q = conn.dialect.identifier_preparer.quote
        text = _TEMPLATES[name].format(
            key=q("key"), value=q("value"), ts=q("timestamp"), step=q("step"), marks=", ".join("?" * marks)
        )
        if conn.dialect.paramstyle != "qmark":
            text = text.replace("?", "%s")
        _SQL[key] = text
    return text


@contextmanager
def cursor(conn: Connection) -> Iterator[Any]:
    """A DB-API cursor inside the connection's transaction; driver errors become DBAPIError."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cur = conn.connection.cursor()
    try:
        yield cur
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cur.close()


def run_row(conn: Connection, run_uuid: str, *, lock: bool) -> tuple | None:
    """``(id, lifecycle_stage)`` of the run, or None."""
    text = sql(conn, "run")
    if lock:
        text += _ROW_LOCK[conn.dialect.name]
    with cursor(conn) as cur:
        cur.execute(text, (run_uuid,))
        return cur.fetchone()


def latest_points(conn: Connection, rid: int, keys: Sequence[str]) -> dict[str, dict]:
    """The stored latest point of each key: ``{key: {value, timestamp, step, is_nan}}``."""
    out: dict[str, dict] = {}
    with cursor(conn) as cur:
        for i in range(0, len(keys), IN_CHUNK):
            part = keys[i : i + IN_CHUNK]
            cur.execute(sql(conn, "latest", len(part)), (rid, *part))
            for key, value, ts, step, is_nan in cur.fetchall():
                out[key] = {"value": value, "timestamp": ts, "step": step, "is_nan": bool(is_nan)}
    return out


def insert_points(conn: Connection, rid: int, rows: Sequence[dict], latest: Sequence[dict]) -> None:
    """Insert metric rows and upsert the changed latest points (both lists of row dicts)."""
    with cursor(conn) as cur:
        points = [(rid, r["key"], r["value"], r["timestamp"], r["step"], r["is_nan"]) for r in rows]
        if len(points) == 1 and len(latest) == 1 and conn.dialect.name == "postgresql":
            # the point is the latest (``latest`` holds rows of ``rows``): one round trip
            cur.execute(sql(conn, "insert_one_upsert_latest"), points[0] * 2)
            return
        if len(points) == 1:
            cur.execute(sql(conn, "insert_metrics"), points[0])
        else:
            cur.executemany(sql(conn, "insert_metrics"), points)
        newest = [(rid, r["key"], r["value"], r["timestamp"], r["step"], r["is_nan"]) for r in latest]
        if len(newest) == 1:
            cur.execute(sql(conn, "upsert_latest"), newest[0])
        elif newest:
            cur.executemany(sql(conn, "upsert_latest"), newest)
