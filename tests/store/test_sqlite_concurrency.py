"""Several processes writing one SQLite file at once: no "database is locked", nothing lost.

One round of spawned processes (each costs an interpreter start and the imports) covers two
moments: all of them opening a brand-new file at once (each finds it empty and migrates), then
all of them logging into one prepared file, to their own runs and to one shared run.
"""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.store.tracking.sql.store import SqlTrackingStore

PROCESSES = 3
BATCHES = 15
BATCH_SIZE = 40
SINGLE_METRICS = 15


def _child(fresh_uri: str, uri: str, shared_run: str, worker: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=120)
        fresh = SqlTrackingStore.from_uri(fresh_uri)
        fresh_run = fresh.create_run("0", f"worker-{worker}", 0).info.run_id
        fresh.log_metric(fresh_run, Metric("m", 1.0, 1, 0))
        fresh.close()

        store = SqlTrackingStore.from_uri(uri)
        own_run = store.create_run("0", f"worker-{worker}", 0).info.run_id
        barrier.wait(timeout=120)
        for b in range(BATCHES):
            metrics = [Metric("loss", float(i), 1000 + i, b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]
            store.log_batch(own_run, metrics=metrics, params=[Param(f"p{b}", str(b))])
            store.log_batch(shared_run, metrics=[Metric(f"w{worker}", float(b), b, b)], tags=[RunTag(f"t{worker}", str(b))])
        for i in range(SINGLE_METRICS):
            store.log_metric(shared_run, Metric("shared", float(i), i, worker * 1000 + i))
        store.close()
        results.put((fresh_run, own_run, None))
    except BaseException:
        barrier.abort()  # do not leave the others waiting
        results.put((None, None, traceback.format_exc()))


def test_processes_write_one_sqlite_file_at_once(tmp_path: Path) -> None:
    fresh_uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    store = SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path / "artifacts"))
    shared_run = store.create_run("0", "parent", 0).info.run_id

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(fresh_uri, uri, shared_run, worker, barrier, results))
        for worker in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [err for _, _, err in out if err]
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    fresh = SqlTrackingStore.from_uri(fresh_uri)
    for fresh_run, _, _ in out:
        assert fresh.get_run(fresh_run).data.metrics == {"m": 1.0}
    fresh.close()

    for _, own_run, _ in out:
        run = store.get_run(own_run)
        assert len(store.get_metric_history(own_run, "loss")) == BATCHES * BATCH_SIZE
        assert run.data.params == {f"p{b}": str(b) for b in range(BATCHES)}
        assert run.data.metrics == {"loss": float(BATCH_SIZE - 1)}
    shared = store.get_run(shared_run)
    assert len(store.get_metric_history(shared_run, "shared")) == PROCESSES * SINGLE_METRICS
    assert shared.data.metrics["shared"] == float(SINGLE_METRICS - 1)  # from the largest steps
    for worker in range(PROCESSES):
        assert len(store.get_metric_history(shared_run, f"w{worker}")) == BATCHES
        assert shared.data.tags[f"t{worker}"] == str(BATCHES - 1)
    store.close()


def test_a_new_file_another_connection_is_writing_is_opened_once_it_is_free(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock, and SQLite refuses at once (no busy wait)
    while another connection writes: the engine's connection waits for it instead of failing."""
    import sqlite3
    import threading

    from modelyard.store.sql.engine import create_db_engine

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # what the engine meets at first
        sqlite3.connect(path, isolation_level=None, timeout=5).execute("PRAGMA journal_mode=WAL")
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    finally:
        releaser.join()
        engine.dispose()
        other.close()
