"""The server's event loop never waits on the database: while another connection holds the write
lock (SQLite) or a row lock (PostgreSQL), a ``log-metric`` waits for it on a thread, and ``/health``
and reads still answer; once the lock is gone, the metric is logged exactly once.

No timed assertion: the proof is the order of events. The health check and the read are made
*while* the log-metric is known to be waiting (the server's writer holds our writer queue's flock /
PostgreSQL shows its lock wait) and *before* the lock is let go; were the loop blocked, they could
not answer until then, and their client's timeout would fail the test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from modelyard.settings import Settings
from modelyard.store.sql.database import Database, WouldWait
from modelyard.store.sql.engine import normalize_db_uri

WAIT_S = 20.0  # how long the test waits for a state it expects (never reached when all is well)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _new_run(client: httpx.Client) -> str:
    answer = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0", "start_time": 1})
    assert answer.status_code == 200, answer.text
    return answer.json()["run"]["info"]["run_id"]


def _log_metric(client: httpx.Client, run_id: str):
    body = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 7, "step": 3}
    return client.post("/api/2.0/mlflow/runs/log-metric", json=body)


def _history(client: httpx.Client, run_id: str) -> list[dict]:
    answer = client.get(
        "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json().get("metrics", [])


def _answers_while_waiting(url: str, run_id: str, waiting, release) -> None:
    """Start a log-metric, wait until ``waiting()`` says it waits on the database, check that the
    server still answers, then ``release()`` the lock: the metric lands once."""
    timeout = httpx.Timeout(WAIT_S)
    with (
        httpx.Client(base_url=url, timeout=timeout) as writer,
        httpx.Client(base_url=url, timeout=timeout) as other,
    ):
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_log_metric, writer, run_id)
            try:
                _until(waiting, "the log-metric to wait on the database lock")
                assert other.get("/health").status_code == 200
                run = other.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
                assert run.status_code == 200 and run.json()["run"]["info"]["run_id"] == run_id
                assert not pending.done()  # the health check and the read came first
            finally:
                release()
            assert pending.result(timeout=WAIT_S).status_code == 200
        assert [(m["value"], m["step"]) for m in _history(other, run_id)] == [(0.5, 3)]


def _flock_taken(path: str) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our lock when we got it
    return False


def test_sqlite_write_lock_held_elsewhere_blocks_only_the_writer(
    tmp_path: Path, server_db_template, serve_app
):
    db_file = str(tmp_path / "server.db")
    shutil.copyfile(server_db_template, db_file)
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{db_file}",
        artifacts_destination=str(tmp_path / "artifacts"),
        serve_artifacts=True,
    )
    with serve_app(settings) as live, httpx.Client(base_url=live.url, timeout=WAIT_S) as client:
        run_id = _new_run(client)
        holder = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, as another tool or process would hold it
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                holder.execute("ROLLBACK")
                holder.close()

        # the server's writer takes our queue's flock, then waits in SQLite's busy handler
        _answers_while_waiting(live.url, run_id, lambda: _flock_taken(db_file + "-writer.lock"), release)


def test_postgresql_row_lock_blocks_only_the_writer(fresh_postgres_uri: str, tmp_path: Path, serve_app):
    settings = Settings.defaults(
        backend_store_uri=fresh_postgres_uri,
        artifacts_destination=str(tmp_path / "artifacts"),
        serve_artifacts=True,
    )
    with serve_app(settings) as live, httpx.Client(base_url=live.url, timeout=WAIT_S) as client:
        run_id = _new_run(client)
        engine = create_engine(normalize_db_uri(fresh_postgres_uri), poolclass=NullPool)
        try:
            holder = engine.connect()
            holder.begin()
            # EXCLUSIVE: writers of the metrics wait, readers (the get-run below) pass
            holder.execute(text("LOCK TABLE metrics IN EXCLUSIVE MODE"))

            def waiting() -> bool:
                with engine.connect() as probe:
                    count = probe.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())"
                        )
                    ).scalar()
                return bool(count)

            def release() -> None:
                if holder.in_transaction():
                    holder.rollback()
                holder.close()

            _answers_while_waiting(live.url, run_id, waiting, release)
        finally:
            engine.dispose()


def test_nowait_raises_before_writing_and_waits_after_a_commit(tmp_path: Path):
    """``Database.nowait()``: a write that would wait raises ``WouldWait`` (nothing written); once a
    write of the block has committed, later ones wait as usual (so running the block again would
    never repeat a write)."""
    db_file = tmp_path / "n.db"
    db = Database.from_uri(f"sqlite:///{db_file}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        holder = sqlite3.connect(str(db_file), isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(WouldWait), db.nowait(), db.write() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        holder.execute("ROLLBACK")
        with db.nowait():
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            holder.execute("BEGIN IMMEDIATE")
            threading.Timer(0.2, lambda: holder.execute("ROLLBACK")).start()
            with db.write() as conn:  # after a commit: waits for the lock instead of raising
                conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        holder.close()
        with db.read() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")] == [2, 3]
    finally:
        db.close()
