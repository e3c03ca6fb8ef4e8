"""Engines for the SQL stores: URI normalisation, SQLite pragmas, pools.

SQLite is the embedded default: WAL journal (readers never block the writer), a busy
timeout (several processes may log at once), and write transactions that take the write
lock up front (``BEGIN IMMEDIATE``) so two writers queue on the busy timeout instead of
failing with "database is locked" when a reader upgrades.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from modelyard.exceptions import InvalidParameterValue
from modelyard.settings import Settings

logger = logging.getLogger(__name__)

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def normalize_db_uri(uri: str) -> str:
    """Pick our drivers for bare schemes: postgresql -> psycopg 3, mysql/mariadb -> PyMySQL."""
    scheme = urlsplit(uri).scheme
    if scheme in _DRIVERS:
        uri = _DRIVERS[scheme] + uri[len(scheme) :]
    try:
        url = make_url(uri)
    except Exception as exc:
        raise InvalidParameterValue(f"Invalid database URI {uri!r}: {exc}") from exc
    if url.get_backend_name() == "mysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url.render_as_string(hide_password=False)


def sqlite_file(uri: str) -> str | None:
    """The absolute path of the file a SQLite URI names; None for other databases and in-memory ones."""
    try:
        url = make_url(normalize_db_uri(uri))
    except InvalidParameterValue:
        return None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def _journal_wal(cur, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``timeout_s`` while another connection writes.

    Switching a file that is not yet in WAL mode (a new one) needs an exclusive lock, and SQLite
    answers "database is locked" at once, without its busy handler, while another connection holds
    a write lock (several processes opening one new database together: a server's workers, or
    jobs started at once). Once the file is in WAL mode the pragma changes nothing and needs no lock.
    """
    import sqlite3

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def create_db_engine(uri: str, settings: Settings | None = None) -> Engine:
    settings = settings or Settings()
    uri = normalize_db_uri(uri)
    url = make_url(uri)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, settings)
    if backend not in ("postgresql", "mysql"):
        raise InvalidParameterValue(
            f"Unsupported database {backend!r} in {url.render_as_string()}: use sqlite, postgresql or mysql/mariadb"
        )
    kwargs: dict = {}
    if url.get_driver_name() == "psycopg":
        # psycopg prepares a statement run 5 times on a connection, and answers every ROLLBACK
        # (each SQLAlchemy read ends with one) with a DEALLOCATE ALL: one more round trip, and the
        # store's own prepared statements (tracking/sql/pgbatch.py) gone. The hot statements are
        # prepared by the store; the rest are planned per call.
        kwargs["connect_args"] = {"prepare_threshold": None}
    engine = create_engine(
        url,
        pool_size=settings.sql.pool_size,
        max_overflow=settings.sql.max_overflow,
        pool_recycle=3600,
        echo=settings.sql.echo,
        **kwargs,
    )
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for ``PING_AFTER_IDLE_S``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip to the database
    per request (a whole ``log_metric`` is a handful). A connection in steady use has just proved
    itself alive; one idle for a while (the server restarted, a firewall dropped it) is pinged,
    and replaced when the ping fails (the pool retries the checkout on ``DisconnectionError``).
    A connection that breaks while in use is caught by the dialect's disconnect detection, which
    invalidates the pool, as before."""
    from sqlalchemy import exc as sa_exc

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record) -> None:
        record.info["modelyard_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:
        since = record.info.pop("modelyard_idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
            dbapi_conn.rollback()  # the ping may have begun a transaction: the connection stays idle
        except Exception as exc:
            raise sa_exc.DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
        if alive is False:
            raise sa_exc.DisconnectionError("pooled connection failed its ping")


# A SQLite connection checked out for a write that must not wait (``Database.nowait()``, the event
# loop's writes) has its busy timeout at 0; every other checkout has the configured one. Each pooled
# connection remembers which it has (``BUSY_OFF`` in its record's info), so the event loop's writes,
# one after another on the same connection, pay no PRAGMA at all, where setting it to 0 and back
# around every write cost three statements.
NOWAIT_CHECKOUT: ContextVar[bool] = ContextVar("modelyard_sqlite_nowait_checkout", default=False)
BUSY_OFF = "modelyard_busy_off"


def _sqlite_engine(url, settings: Settings) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        parent = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(parent):  # a typo in the URI must not become a tree of new folders
            raise InvalidParameterValue(
                f"Cannot create the tracking database {os.path.abspath(database)}: the folder {parent} "
                "does not exist (create it first, or check the tracking URI)"
            )
    kwargs: dict = {"echo": settings.sql.echo}
    if in_memory:  # one shared connection, or every checkout would see a new empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": settings.sql.sqlite_busy_timeout_ms / 1000,
        }
        # one connection more than the server's handler threads (pool_size + max_overflow) may hold:
        # the event loop's inline reads and writes never wait for a connection
        kwargs.update(pool_size=settings.sql.pool_size, max_overflow=settings.sql.max_overflow + 1)
    engine = create_engine(url, **kwargs)
    busy = int(settings.sql.sqlite_busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not in_memory:
            _journal_wal(cur, busy / 1000)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={busy}")
        record.info[BUSY_OFF] = False
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    def set_busy_off(dbapi_conn, info: dict, off: bool) -> None:
        if info.get(BUSY_OFF) is not off:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={0 if off else busy}")
            cur.close()
            info[BUSY_OFF] = off

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:
        set_busy_off(dbapi_conn, record.info, NOWAIT_CHECKOUT.get())

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        options = conn.get_execution_options()
        mode = options.get("sqlite_begin", "DEFERRED")
        if not options.get("sqlite_nowait"):
            conn.exec_driver_sql(f"BEGIN {mode}")
            return
        # Database.nowait(): fail at once (SQLITE_BUSY) rather than wait for another writer; the
        # connection's next checkout for anything else gives it its busy timeout back
        set_busy_off(conn.connection.dbapi_connection, conn.connection.info, True)
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, but transactions take SQLite's write lock at BEGIN."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


class WriterQueue:
    """SQLite writers of every process wait their turn on an ``flock``, not in SQLite's busy handler.

    While another connection holds the write lock, SQLite's busy handler sleeps and retries
    (1, 2, 5, 10, ... 100 ms): with several processes logging at once, writers spend most of
    their time asleep after the lock is already free. A blocking ``flock`` on a file next to the
    database wakes the next writer as soon as the previous one commits. Threads of one process
    queue on a lock first (an ``flock`` is shared by the threads holding the same descriptor).
    Writers that do not take the queue (another tool on the same file) still meet SQLite's own
    locking, which stays in force: the queue only orders our writers. When the lock file cannot
    be created (a read-only folder), writers go straight to SQLite as before.
    """

    def __init__(self, database: str) -> None:
        self.path = os.path.abspath(database) + "-writer.lock"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._usable = True

    def _descriptor(self) -> int | None:
        if self._pid != os.getpid():  # a forked child must not share its parent's descriptor
            self._fd, self._pid = None, os.getpid()
        if self._fd is None and self._usable:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self._usable = False
                logger.info("SQLite writers not queued (cannot open %s: %s)", self.path, exc)
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def hold(self, blocking: bool = True) -> Iterator[bool]:
        """Our writers' turn; ``blocking=False``: yields False at once (holding nothing) when another
        writer of this or another process has it."""
        import fcntl

        if not self._lock.acquire(blocking):
            yield False
            return
        try:
            fd = self._descriptor()
            if fd is None:
                yield True
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                locked = False
            if not locked:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


def writer_queue(engine: Engine) -> WriterQueue | None:
    """The queue of a file-backed SQLite engine (None for other databases and in-memory SQLite)."""
    if engine.dialect.name != "sqlite" or os.name != "posix":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return WriterQueue(database)
