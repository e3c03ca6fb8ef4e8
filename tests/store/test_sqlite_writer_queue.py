"""SQLite writers queue on an flock next to the database file (see engine.WriterQueue)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

from modelyard.entities import Metric
from modelyard.store.sql.engine import WriterQueue, writer_queue
from modelyard.store.tracking.sql.store import SqlTrackingStore


def test_only_file_backed_sqlite_gets_a_queue(tmp_path: Path) -> None:
    assert writer_queue(create_engine(f"sqlite:///{tmp_path / 'a.db'}")) is not None
    assert writer_queue(create_engine("sqlite://")) is None
    assert writer_queue(create_engine("sqlite:///:memory:")) is None


def test_writers_hold_the_queue_one_at_a_time(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db.sqlite"))
    inside, overlaps = [0], []

    def writer() -> None:
        for _ in range(20):
            with queue.hold():
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.0005)
                inside[0] -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 80
    assert max(overlaps) == 1
    assert Path(queue.path).exists()


def test_a_forked_process_opens_its_own_descriptor(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db.sqlite"))
    with queue.hold():
        pass
    first = queue._fd
    queue._pid = -1  # as a child after fork() sees it
    with queue.hold():
        pass
    assert queue._fd is not None and queue._fd != first


def test_without_a_lock_file_writers_go_straight_to_sqlite(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "missing-folder" / "db.sqlite"))
    with queue.hold():
        pass
    assert queue._fd is None and not queue._usable


def test_the_store_writes_through_the_queue(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert store.db._queue is not None
        run_id = store.create_run("0", "u", 0).info.run_id
        store.log_metric(run_id, Metric("m", 1.0, 1, 0))
        assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0]
        assert (tmp_path / "db.sqlite-writer.lock").exists()
    finally:
        store.close()


def test_closing_the_store_closes_the_lock_file(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_id = store.create_run("0", "u", 0).info.run_id
    store.log_metric(run_id, Metric("m", 1.0, 1, 0))
    assert store.db._queue._fd is not None
    store.close()
    assert store.db._queue._fd is None


def test_registry_writes_take_the_same_queue(tmp_path: Path) -> None:
    """The registry shares the tracking store's Database: its writes wait for the queue too."""
    from modelyard.store.registry.sql.store import SqlRegistryStore

    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'db.sqlite'}")
    registry = SqlRegistryStore.from_tracking_store(store)
    assert registry.db is store.db
    other_process = WriterQueue(str(tmp_path / "db.sqlite"))  # its own descriptor, as another process
    done = threading.Event()
    writer = threading.Thread(target=lambda: (registry.create_registered_model("m"), done.set()))
    try:
        with other_process.hold():
            writer.start()
            assert not done.wait(0.5)  # queued behind the other writer
        assert done.wait(30)
        assert registry.get_registered_model("m").name == "m"
    finally:
        writer.join(30)
        other_process.close()
        store.close()
