"""``Database``: one database as every domain store sees it.

``read()`` yields a connection outside any explicit transaction (SQLite reads never take the write
lock); ``write()`` yields one inside a transaction that commits on exit, or rolls back when the
block raises. Everything a write needs happens here and nowhere else:

- SQLite: the cross-process writer queue (``engine.WriterQueue``) and ``BEGIN IMMEDIATE``, so two
  writers queue instead of failing with "database is locked";
- every database: driver errors become the modelyard error tree (``errors.translate``), raised
  ``from`` the original.

``transaction(work)`` runs ``work(conn)`` in ``write()`` and runs it again after a deadlock or a
serialization failure (``errors.is_transient``): only callers whose whole transaction is ``work``
can be retried, so ``write()`` itself never retries (the durable queue's claims use it).

Tracking, the registry and the durable queue share one ``Database`` (one engine, one pool, one
writer queue), so a registry write and a tracking write never race for SQLite's lock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from modelyard.settings import Settings
from modelyard.store.sql.engine import create_db_engine, writer, writer_queue
from modelyard.store.sql.errors import is_transient, translate

T = TypeVar("T")


class Database:
    def __init__(self, engine: Engine, uri: str = "") -> None:
        self.engine = engine
        self.uri = uri or engine.url.render_as_string(hide_password=False)
        self.dialect = engine.dialect.name  # "sqlite", "postgresql" or "mysql" (MariaDB too)
        self._writer = writer(engine)
        self._queue = writer_queue(engine)

    @classmethod
    def from_uri(cls, uri: str, settings: Settings | None = None) -> Database:
        return cls(create_db_engine(uri, settings), uri)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string()!r})"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise translate(exc) from exc

    def read_scalar(self, sql: str):
        """The first column of the first row of ``sql`` (a literal statement, no parameters), or None,
        through a pooled DBAPI connection without SQLAlchemy's execution layer: several times cheaper,
        for a trivial read made on every request (the auth store's credentials generation)."""
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(sql)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                conn.close()  # back to the pool, which ends any transaction the driver began
        except dbapi_error as exc:
            raise translate(DBAPIError.instance(sql, None, exc, dbapi_error)) from exc
        return row[0] if row else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self._queue.hold() if self._queue else nullcontext(), self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise translate(exc) from exc

    def transaction(self, work: Callable[[Connection], T], attempts: int = 4) -> T:
        """``work(conn)`` in one write transaction, run again (after a short random pause) when the
        database rolled it back for a deadlock or a serialization failure."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as conn:
                    return work(conn)
            except Exception as exc:
                if attempt == attempts or not is_transient(exc):
                    raise
            time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.engine.dispose()
        if self._queue is not None:
            self._queue.close()
