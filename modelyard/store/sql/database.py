"""``Database``: one database as every domain store sees it.

``read()`` yields a connection outside any explicit transaction (SQLite reads never take the write
lock); ``write()`` yields one inside a transaction that commits on exit, or rolls back when the
block raises. Everything a write needs happens here and nowhere else:

- SQLite: the cross-process writer queue (``engine.WriterQueue``) and ``BEGIN IMMEDIATE``, so two
  writers queue instead of failing with "database is locked";
- every database: driver errors become the modelyard error tree (``errors.translate``), raised
  ``from`` the original.

No transient error is retried today (none needs it: SQLite writers queue, PostgreSQL and MariaDB
writes are single statements or row-locked); a retry would go in ``write()``.

Tracking, the registry and the durable queue share one ``Database`` (one engine, one pool, one
writer queue), so a registry write and a tracking write never race for SQLite's lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from modelyard.settings import Settings
from modelyard.store.sql.engine import create_db_engine, writer, writer_queue
from modelyard.store.sql.errors import translate


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

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self._queue.hold() if self._queue else nullcontext(), self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise translate(exc) from exc

    def close(self) -> None:
        self.engine.dispose()
        if self._queue is not None:
            self._queue.close()
