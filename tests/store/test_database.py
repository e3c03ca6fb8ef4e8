"""The kernel's Database: errors translated at one place, whole transactions run again after a
deadlock or serialization failure (and only then)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from modelyard.exceptions import ModelyardError, ResourceAlreadyExists
from modelyard.store.sql.database import Database


class _DriverError(Exception):
    """What a driver raises: MySQL's carry an error code, PostgreSQL's a SQLSTATE."""

    def __init__(self, *args, sqlstate: str | None = None) -> None:
        super().__init__(*args)
        self.sqlstate = sqlstate


@pytest.fixture
def db(tmp_path: Path):
    database = Database.from_uri(f"sqlite:///{tmp_path / 'k.db'}")
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
    yield database
    database.close()


def test_driver_errors_become_the_error_tree(db: Database) -> None:
    with db.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(ResourceAlreadyExists) as caught, db.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert isinstance(caught.value.__cause__, IntegrityError)
    with (
        pytest.raises(ModelyardError, match="Database error; the details are in the server log"),
        db.read() as conn,
    ):
        conn.execute(text("SELECT * FROM missing_table"))


@pytest.mark.parametrize(
    "driver_error",
    [_DriverError(1213, "Deadlock found"), _DriverError("deadlock detected", sqlstate="40P01")],
    ids=["mysql-deadlock", "postgresql-deadlock"],
)
def test_a_transaction_runs_again_after_a_deadlock(db: Database, driver_error: Exception) -> None:
    calls = []

    def work(conn) -> int:
        calls.append(1)
        conn.execute(text("INSERT INTO t VALUES (:k)"), {"k": len(calls)})
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, driver_error)
        return len(calls)

    assert db.transaction(work) == 2
    with db.read() as conn:  # the first run was rolled back
        assert conn.execute(text("SELECT k FROM t")).scalars().all() == [2]


def test_other_errors_are_not_retried(db: Database) -> None:
    calls = []

    def work(conn) -> None:
        calls.append(1)
        raise OperationalError("SELECT", {}, _DriverError(2006, "server has gone away"))

    with pytest.raises(ModelyardError):
        db.transaction(work)
    assert len(calls) == 1


def test_pooled_connections_are_pinged_only_after_sitting_idle(postgres_uri: str, monkeypatch) -> None:
    """No ping per checkout (a round trip per request); a connection idle for PING_AFTER_IDLE_S is
    pinged, and replaced when the server dropped it."""
    from sqlalchemy import event

    from modelyard.settings import Settings
    from modelyard.store.sql import engine as engines

    engine = engines.create_db_engine(postgres_uri, Settings.defaults(sql_pool_size=1, sql_max_overflow=0))
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cur, stmt, *a: statements.append(stmt))
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:  # at once: no ping, the same connection
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert statements == ["SELECT pg_backend_pid()"] * 2
        admin = engines.create_db_engine(postgres_uri)
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend({pid})"))
        admin.dispose()
        monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)  # every connection counts as idle now
        with engine.connect() as conn:  # the ping fails: a new connection, no error
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()


def _raw_insert(conn, k: int) -> None:
    cur = conn.connection.cursor()
    try:
        cur.execute("INSERT INTO t VALUES (?)", (k,))
    finally:
        cur.close()


def _keys(db: Database) -> list[int]:
    with db.read() as conn:
        return conn.execute(text("SELECT k FROM t ORDER BY k")).scalars().all()


def test_write_raw_commits_rolls_back_and_translates(db: Database) -> None:
    with db.write_raw() as conn:
        _raw_insert(conn, 1)
    with pytest.raises(RuntimeError), db.write_raw() as conn:
        _raw_insert(conn, 2)
        raise RuntimeError("the block failed")
    with pytest.raises(ResourceAlreadyExists) as caught, db.write_raw() as conn:
        _raw_insert(conn, 3)
        _raw_insert(conn, 1)  # the driver's IntegrityError, translated; 3 is rolled back with it
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert _keys(db) == [1]


def test_write_raw_under_nowait_raises_would_wait_before_writing(db: Database, tmp_path: Path) -> None:
    import sqlite3

    from modelyard.store.sql.database import WouldWait

    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    try:
        with pytest.raises(WouldWait), db.nowait(), db.write_raw() as conn:
            _raw_insert(conn, 5)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.nowait():
        with db.write_raw() as conn:  # free now: written at once
            _raw_insert(conn, 6)
        with db.write_raw() as conn:  # after a commit, later writes of the block may wait
            _raw_insert(conn, 7)
    assert _keys(db) == [6, 7]


def _busy_timeout(conn) -> int:
    cur = conn.connection.cursor()
    try:
        cur.execute("PRAGMA busy_timeout")
        return cur.fetchone()[0]
    finally:
        cur.close()


def test_only_writes_under_nowait_run_with_the_busy_timeout_at_zero(db: Database) -> None:
    """The event loop's writes keep their connection's busy timeout at 0 from one to the next (no
    PRAGMA around each); any other use of that connection gets the configured timeout back first."""
    with db.nowait(), db.write_raw() as conn:
        assert _busy_timeout(conn) == 0
        _raw_insert(conn, 10)
    with db.write_raw() as conn:  # a thread's write waits its turn as configured
        assert _busy_timeout(conn) > 0
        _raw_insert(conn, 11)
    with db.nowait(), db.write_raw() as conn:
        assert _busy_timeout(conn) == 0
        _raw_insert(conn, 12)
    with db.read() as conn:  # a read is never run without it either
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0
    with db.nowait(), db.write() as conn:  # the SQLAlchemy path of nowait()
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 0
    with db.write() as conn:
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0
    assert _keys(db) == [10, 11, 12]


def test_writes_under_nowait_reuse_one_connection_and_give_up_a_dirty_one(db: Database) -> None:
    """The event loop's writes keep the connection of the last one (no pool checkout around each); a
    write that failed still leaves it clean (rolled back), and closing the database releases it."""
    seen = []
    for k in (20, 21):
        with db.nowait(), db.write_raw() as conn:
            seen.append(conn.connection.dbapi_connection)
            _raw_insert(conn, k)
    assert seen[0] is seen[1]
    with pytest.raises(RuntimeError), db.nowait(), db.write_raw() as conn:
        _raw_insert(conn, 22)
        raise RuntimeError("the handler failed")
    with db.nowait(), db.write_raw() as conn:  # rolled back, kept, and usable
        assert conn.connection.dbapi_connection is seen[0]
        _raw_insert(conn, 23)
    with db.write_raw() as conn:  # a thread's write takes another connection from the pool
        assert conn.connection.dbapi_connection is not seen[0]
        _raw_insert(conn, 24)
    assert _keys(db) == [20, 21, 23, 24]
    db.close()
    assert db._spare is None
