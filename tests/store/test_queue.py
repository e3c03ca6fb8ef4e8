"""The durable SQL queue (modelyard.store.sql.queue) on SQLite, PostgreSQL and MariaDB: put, claim
with a lease, ack, fail with backoff, dead letters, lease expiry, transactional put, and two
claimers never getting the same item."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.exceptions import ResourceDoesNotExist
from modelyard.store.sql import queue
from modelyard.store.sql.common import now_ms
from modelyard.store.sql.database import Database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "queue.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = Database.from_uri(f"sqlite:///{path}")
        yield db
        db.close()
    else:  # the session's migrated database; each test has its own queue name
        yield Database(request.getfixturevalue(f"{request.param}_engine"))


@pytest.fixture
def q(database: Database) -> queue.Queue:
    return queue.Queue(database, f"test-{uuid.uuid4().hex}")


def test_items_are_claimed_in_order_and_gone_once_acknowledged(q: queue.Queue) -> None:
    ids = [q.put(f"job-{i}") for i in range(3)]
    first = q.claim("w1", lease_seconds=60, limit=2)
    assert [(i.id, i.payload, i.state, i.attempts, i.worker_id) for i in first] == [
        (ids[0], "job-0", "leased", 1, "w1"),
        (ids[1], "job-1", "leased", 1, "w1"),
    ]
    assert [i.payload for i in q.claim("w2", lease_seconds=60, limit=5)] == ["job-2"]
    assert q.claim("w3", lease_seconds=60) == []  # all leased
    assert all(q.ack(i.id, "w1") for i in first)
    assert q.next_due() is not None  # job-2 is still leased
    assert q.ack(ids[2], "w2")
    assert q.next_due() is None and q.claim("w1", 60) == []


def test_put_commits_and_rolls_back_with_the_callers_transaction(database: Database, q: queue.Queue) -> None:
    with pytest.raises(RuntimeError), database.write() as conn:
        queue.put(conn, q.name, "lost")
        raise RuntimeError("the change failed")
    with database.write() as conn:
        queue.put(conn, q.name, "kept")
    assert [i.payload for i in q.claim("w", 60, limit=10)] == ["kept"]


def test_a_dedup_key_queues_once(q: queue.Queue) -> None:
    assert q.put("a", dedup_key="k1") is not None
    assert q.put("b", dedup_key="k1") is None
    assert q.put("c", dedup_key="k2") is not None
    assert [i.payload for i in q.claim("w", 60, limit=10)] == ["a", "c"]


def test_an_item_is_not_due_before_available_at(q: queue.Queue) -> None:
    later = now_ms() + 3_600_000
    q.put("later", available_at=later)
    assert q.claim("w", 60) == []
    assert q.next_due() == later


def test_failures_back_off_then_dead_letter_then_requeue(q: queue.Queue) -> None:
    item_id = q.put("flaky", max_attempts=2)
    (item,) = q.claim("w", 60)
    before = now_ms()
    retry_at = q.fail(item.id, "boom", backoff_s=100, worker_id="w")
    assert retry_at is not None and before + 80_000 <= retry_at <= now_ms() + 120_000  # 100 s, +-20%
    assert q.claim("w", 60) == []  # backing off
    q.fail(item_id, "ignored: not leased")  # a fail without the lease changes nothing
    assert q.next_due() == retry_at
    with q.db.write() as conn:  # make it due now
        conn.execute(queue.queue_items.update().where(queue.queue_items.c.id == item_id).values(available_at=0))
    (again,) = q.claim("w", 60)
    assert again.attempts == 2 and again.last_error == "boom"
    assert q.fail(again.id, "boom again", backoff_s=0, worker_id="w") is None  # no attempt left
    assert q.claim("w", 60) == [] and q.next_due() is None
    (dead,) = q.dead_letters()
    assert (dead.id, dead.state, dead.attempts, dead.last_error) == (item_id, "dead", 2, "boom again")
    q.requeue(item_id)
    assert q.dead_letters() == []
    (revived,) = q.claim("w", 60)
    assert (revived.payload, revived.attempts) == ("flaky", 1)
    with pytest.raises(ResourceDoesNotExist):
        q.requeue(item_id)  # leased, not dead


def test_a_permanent_failure_dead_letters_at_once(q: queue.Queue) -> None:
    q.put("bad request", max_attempts=5)
    (item,) = q.claim("w", 60)
    assert q.fail(item.id, "HTTP 400", retryable=False) is None
    assert [(d.payload, d.attempts) for d in q.dead_letters()] == [("bad request", 1)]


def test_an_expired_lease_makes_the_item_claimable_again(q: queue.Queue) -> None:
    item_id = q.put("job", max_attempts=3)
    (first,) = q.claim("crashed-worker", lease_seconds=0)  # its lease runs out at once
    (second,) = q.claim("w2", lease_seconds=60)
    assert (first.id, second.id, second.attempts, second.worker_id) == (item_id, item_id, 2, "w2")
    assert not q.ack(item_id, "crashed-worker")  # the lease was lost: its ack does not count
    assert q.ack(item_id, "w2")


def test_a_lease_expiring_after_the_last_attempt_dead_letters_the_item(q: queue.Queue) -> None:
    q.put("job", max_attempts=1)
    q.claim("crashed-worker", lease_seconds=0)
    assert q.claim("w2", 60) == []
    (dead,) = q.dead_letters()
    assert (dead.payload, dead.last_error) == ("job", "lease expired")


def test_two_claimers_never_get_the_same_item(database: Database, q: queue.Queue) -> None:
    with database.write() as conn:
        for i in range(60):
            queue.put(conn, q.name, str(i))
    got: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claimer(name: str) -> None:
        start.wait()
        while batch := q.claim(name, lease_seconds=60, limit=4):
            got[name] += [i.payload for i in batch]

    threads = [threading.Thread(target=claimer, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(got["a"]) & set(got["b"])
    assert sorted(got["a"] + got["b"], key=int) == [str(i) for i in range(60)]
