"""``Database``: one database as every domain store sees it.

``read()`` yields a connection outside any explicit transaction (SQLite reads never take the write
lock); ``write()`` yields one inside a transaction that commits on exit, or rolls back when the
block raises. Everything a write needs happens here and nowhere else:

- SQLite: the cross-process writer queue (``engine.WriterQueue``) and ``BEGIN IMMEDIATE``, so two
  writers queue instead of failing with "database is locked";
- every database: driver errors become the modelyard error tree (``errors.translate``), raised
  ``from`` the original.

``write_raw()`` is ``write()`` on the driver's own connection, for a store's few hottest writes kept
as SQL text (SQLite and PostgreSQL): the same queue, ``BEGIN IMMEDIATE``, ``nowait()`` rule and
error translation, without SQLAlchemy's per-transaction events (about 0.1 ms of Python per call).

``transaction(work)`` runs ``work(conn)`` in ``write()`` and runs it again after a deadlock or a
serialization failure (``errors.is_transient``): only callers whose whole transaction is ``work``
can be retried, so ``write()`` itself never retries (the durable queue's claims use it).

``nowait()`` is for a caller that must not wait on the database (the server's event loop): inside
it, a SQLite write that would wait for another writer raises ``WouldWait`` before anything is
written, so the caller can run the same work again where waiting is fine (a worker thread). Only
the first write of the block may raise it: once a write has committed, later ones wait as usual
(running the block again would repeat that write).

Tracking, the registry and the durable queue share one ``Database`` (one engine, one pool, one
writer queue), so a registry write and a tracking write never race for SQLite's lock.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from modelyard.settings import Settings
from modelyard.store.sql.engine import NOWAIT_CHECKOUT, create_db_engine, writer, writer_queue
from modelyard.store.sql.errors import is_transient, translate

T = TypeVar("T")


class WouldWait(BaseException):
    """Raised inside ``Database.nowait()`` by a write that would wait for another writer; nothing
    of the block has been written (not an error users see: the caller runs the block elsewhere).
    A BaseException, so that no ``except Exception`` on the way swallows it (and the write)."""


# inside Database.nowait(): True until the block's first write commits (then later writes may wait)
_nowait: ContextVar[bool] = ContextVar("modelyard_db_nowait", default=False)


def _is_busy(exc: DBAPIError) -> bool:
    """SQLite's "database is locked" (another connection holds the write lock)."""
    return getattr(exc.orig, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(
        exc.orig
    )


class RawConnection(NamedTuple):
    """What ``write_raw()`` yields: the dialect and the pooled DB-API connection, under the names a
    SQLAlchemy ``Connection`` has them (``conn.dialect``, ``conn.connection``), so SQL-text helpers
    take either."""

    dialect: Dialect
    connection: Any


class Database:
    def __init__(self, engine: Engine, uri: str = "") -> None:
        self.engine = engine
        self.uri = uri or engine.url.render_as_string(hide_password=False)
        self.dialect = engine.dialect.name  # "sqlite", "postgresql" or "mysql" (MariaDB too)
        self._writer = writer(engine)
        self._queue = writer_queue(engine)
        self._writer_nowait = self._writer.execution_options(sqlite_nowait=True)
        # the connection of the last write under nowait() (the event loop's), kept for the next one:
        # a pool checkout and check-in around each cost a sixth of an inline log-metric's CPU
        self._spare: tuple[int, Any] | None = None  # (pid, DB-API connection)

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
    def autocommit(self) -> Iterator[tuple[Any, dict]]:
        """A pooled DB-API connection in autocommit mode, outside SQLAlchemy's execution layer
        (PostgreSQL), and the pool's ``info`` dict of that connection (kept as long as it lives: what
        a caller prepared on it). Every ``execute`` is its own transaction, so a statement, or a
        batch of statements sent as one query, costs one round trip with nothing before (``BEGIN``)
        or after (``COMMIT``). Driver errors become the modelyard error tree; a connection the error
        broke is dropped from the pool."""
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        conn = self.engine.raw_connection()
        try:
            dbapi = conn.dbapi_connection
            dbapi.autocommit = True
            try:
                yield dbapi, conn.info
            finally:
                if not dbapi.closed:
                    dbapi.autocommit = False
        except dbapi_error as exc:
            if getattr(conn.dbapi_connection, "closed", True) or getattr(
                conn.dbapi_connection, "broken", False
            ):
                conn.invalidate(exc)
            wrapped = DBAPIError.instance(None, None, exc, dbapi_error, dialect=self.engine.dialect)
            raise translate(wrapped) from wrapped
        finally:
            conn.close()

    @property
    def can_skip_waits(self) -> bool:
        """Whether ``nowait()`` keeps every wait out of the block: SQLite only (its reads never wait
        in WAL mode and its writes can be tried without waiting); a PostgreSQL or MySQL statement is
        a network round trip and may wait on a row lock, so it belongs on a worker thread."""
        return self.dialect == "sqlite"

    @contextmanager
    def nowait(self) -> Iterator[None]:
        """Writes in the block raise ``WouldWait`` instead of waiting for another writer (see the
        module's docstring); meant for SQLite (``can_skip_waits``)."""
        token = _nowait.set(True)
        try:
            yield
        finally:
            _nowait.reset(token)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if _nowait.get():
            with self._write_nowait() as conn:
                yield conn
            _nowait.set(False)  # committed: running the block again would repeat this write
            return
        try:
            with self._queue.hold() if self._queue else nullcontext(), self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise translate(exc) from exc

    @contextmanager
    def _write_nowait(self) -> Iterator[Connection]:
        """``write()`` that raises ``WouldWait`` when our writer queue or SQLite's write lock is taken."""
        began = False
        with self._queue.hold(blocking=False) if self._queue else nullcontext(True) as held:
            if not held:
                raise WouldWait
            try:
                with self._writer_nowait.begin() as conn:
                    began = True
                    yield conn
            except DBAPIError as exc:
                if not began and _is_busy(exc):
                    raise WouldWait from exc
                raise translate(exc) from exc

    @contextmanager
    def write_raw(self) -> Iterator[RawConnection]:
        """``write()`` yielding a ``RawConnection``: statements run on ``conn.connection.cursor()``."""
        dialect = self.engine.dialect
        dbapi_error = dialect.loaded_dbapi.Error
        nowait = _nowait.get()
        began = False
        try:
            with self._queue.hold(blocking=not nowait) if self._queue else nullcontext(True) as held:
                if not held:
                    raise WouldWait
                dbapi_conn = self._nowait_connection() if nowait else self.engine.raw_connection()
                clean = False  # no transaction left open on it: it may be kept
                try:
                    if self.dialect == "sqlite":
                        self._begin_sqlite(dbapi_conn)
                    began = True
                    try:
                        yield RawConnection(dialect, dbapi_conn)
                    except BaseException:
                        dbapi_conn.rollback()
                        clean = True
                        raise
                    dbapi_conn.commit()
                    clean = True
                finally:
                    if not began:  # BEGIN failed (the lock is taken): nothing is open on it
                        clean = True
                    if nowait and clean and self._keep(dbapi_conn):
                        pass
                    else:
                        dbapi_conn.close()  # back to the pool
        except dbapi_error as exc:
            wrapped = DBAPIError.instance(None, None, exc, dbapi_error, dialect=dialect)
            if nowait and not began and _is_busy(wrapped):
                raise WouldWait from wrapped
            raise translate(
                wrapped
            ) from wrapped  # as write() raises it: SQLAlchemy's error, .orig the driver's
        except DBAPIError as exc:
            raise translate(exc) from exc
        if nowait:
            _nowait.set(False)  # committed: running the block again would repeat this write

    def _nowait_connection(self):
        """The connection for a write under nowait(): the one the last such write kept, else one from
        the pool with its busy timeout at 0 (``engine.NOWAIT_CHECKOUT``)."""
        spare, self._spare = self._spare, None
        if spare is not None and spare[0] == os.getpid():
            return spare[1]
        token = NOWAIT_CHECKOUT.set(True)
        try:
            return self.engine.raw_connection()
        finally:
            NOWAIT_CHECKOUT.reset(token)

    def _keep(self, dbapi_conn) -> bool:
        """Keep ``dbapi_conn`` (clean, busy timeout 0) for the next write under nowait(), if SQLite and
        none is kept yet; False: the caller returns it to the pool."""
        if self.dialect != "sqlite" or self._spare is not None:
            return False
        self._spare = (os.getpid(), dbapi_conn)
        return True

    @staticmethod
    def _begin_sqlite(dbapi_conn) -> None:
        """``BEGIN IMMEDIATE``; under ``nowait()`` the connection was checked out with its busy timeout
        at 0 (``write_raw``), so it fails at once (SQLITE_BUSY) rather than wait for the lock."""
        dbapi_conn.driver_connection.execute("BEGIN IMMEDIATE")

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
        spare, self._spare = self._spare, None
        if spare is not None and spare[0] == os.getpid():
            spare[1].close()
        self.engine.dispose()
        if self._queue is not None:
            self._queue.close()
