"""A durable work queue in SQL: put, claim with a lease, ack, fail with backoff, dead letters.

An item lives in ``queue_items`` until it is acknowledged (deleted) or dead-lettered (kept, state
``dead``, listable and re-queueable). Its life::

    put -> ready --claim--> leased --ack--> (gone)
                  ^            |--fail (attempts left)--> ready, due after backoff
                  |            |--fail (none left, or not retryable)--> dead --requeue--> ready
                  +-- lease runs out (the worker died): claimable again

- ``put(conn, ...)`` takes the caller's connection: called inside another write transaction, the
  change and its queued work commit (or roll back) together. A ``dedup_key`` makes a second put of
  the same key in the same queue a no-op.
- ``claim`` runs in a write transaction (``Database.write()``): PostgreSQL and MariaDB/MySQL pick
  rows with ``FOR UPDATE SKIP LOCKED`` (concurrent claimers skip each other's rows); on SQLite the
  transaction holds the database's write lock (``BEGIN IMMEDIATE``) so claimers take turns. Either
  way two claimers never get the same item. A claim counts an attempt.
- ``fail`` retries after ``backoff_s * 2**(attempts - 1)`` seconds (capped, +-20% jitter) while
  attempts remain; a leased item whose lease ran out after its last attempt is dead-lettered.

``Queue`` wraps the functions with their transactions for callers that own no connection.
Times are milliseconds since the epoch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, UniqueConstraint

from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.sql.common import now_ms
from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, BigId, LongText, metadata

READY, LEASED, DEAD = "ready", "leased", "dead"
MAX_BACKOFF_S = 600.0

queue_items = Table(
    "queue_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("queue", String(128), nullable=False),
    Column("payload", LongText, nullable=False),
    Column("dedup_key", String(255), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", BigInteger, nullable=False),  # due (ready) or lease expiry (leased)
    Column("worker_id", String(128), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("queue", "dedup_key", name="uq_queue_items_dedup"),
    Index("ix_queue_items_due", "queue", "state", "available_at"),
    **MYSQL_TABLE_ARGS,
)
_q = queue_items.c


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    queue: str
    payload: str
    dedup_key: str | None
    state: str
    attempts: int  # claims so far (the current one included)
    max_attempts: int
    available_at: int  # when due, or when the lease runs out
    worker_id: str | None
    last_error: str | None
    created_at: int


def _item(row) -> Item:
    return Item(*(row._mapping[c.name] for c in queue_items.columns))


def put(
    conn: Connection,
    queue: str,
    payload: str,
    *,
    available_at: int | None = None,
    max_attempts: int = 5,
    dedup_key: str | None = None,
    fresh_key: bool = False,
) -> int | None:
    """Queue one item on ``conn`` (commits with the caller's transaction); returns its id, or None
    when an item with the same ``dedup_key`` is already in the queue (``fresh_key``: the caller
    made the key unique, e.g. a new uuid, so it is not looked up)."""
    if not queue or not isinstance(payload, str):
        raise InvalidParameterValue("A queue item needs a queue name and a string payload")
    if max_attempts < 1:
        raise InvalidParameterValue(f"max_attempts must be at least 1, got {max_attempts}")
    if dedup_key is not None and not fresh_key:
        found = conn.execute(select_id(queue, dedup_key)).scalar()
        if found is not None:
            return None
    t = now_ms()
    values = {
        "queue": queue,
        "payload": payload,
        "dedup_key": dedup_key,
        "state": READY,
        "attempts": 0,
        "max_attempts": max_attempts,
        "available_at": t if available_at is None else int(available_at),
        "created_at": t,
    }
    return conn.execute(queue_items.insert().values(**values)).inserted_primary_key[0]


# Platform events: one kernel queue that other domains consume inside the platform (the jobs
# scheduler's event triggers). A domain puts ``{"event": "<entity>.<action>", "data": {...}}`` on
# it with ``put_event`` in the transaction of its change, so an event is committed exactly when the
# change is: never lost, never sent for a change that rolled back. (The name is historical: the
# registry was its first producer; feature tables' new versions go on it too.)
EVENTS_QUEUE = "registry-events"
EVENT_ATTEMPTS = 20


def put_event(conn: Connection, event: str, data: dict) -> int | None:
    """Queue the platform event ``event`` with ``data`` on ``conn`` (commits with the caller's change)."""
    return put(conn, EVENTS_QUEUE, json.dumps({"event": event, "data": data}), max_attempts=EVENT_ATTEMPTS)


def select_id(queue: str, dedup_key: str) -> sa.Select:
    return sa.select(_q.id).where(_q.queue == queue, _q.dedup_key == dedup_key)


def claim(conn: Connection, queue: str, worker_id: str, lease_seconds: float, limit: int = 1) -> list[Item]:
    """Lease up to ``limit`` due items to ``worker_id`` (in a write transaction)."""
    t = now_ms()
    open_ = sa.and_(_q.queue == queue, _q.state.in_([READY, LEASED]), _q.available_at <= t)
    expired = (  # leases that ran out after the last attempt: dead letters, not claimable
        conn.execute(
            sa.select(_q.id)
            .where(open_, _q.state == LEASED, _q.attempts >= _q.max_attempts)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if expired:
        conn.execute(
            sa.update(queue_items)
            .where(_q.id.in_(expired))
            .values(state=DEAD, worker_id=None, last_error=sa.func.coalesce(_q.last_error, "lease expired"))
        )
    ids = (
        conn.execute(
            sa.select(_q.id)
            .where(open_, _q.attempts < _q.max_attempts)
            .order_by(_q.available_at, _q.id)
            .limit(max(0, int(limit)))
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    lease_until = t + int(lease_seconds * 1000)
    conn.execute(
        sa.update(queue_items)
        .where(_q.id.in_(ids))
        .values(state=LEASED, worker_id=worker_id, available_at=lease_until, attempts=_q.attempts + 1)
    )
    rows = conn.execute(sa.select(queue_items).where(_q.id.in_(ids)).order_by(_q.id)).all()
    return [_item(r) for r in rows]


def _leased(item_id: int, worker_id: str | None) -> sa.ColumnElement[bool]:
    where = sa.and_(_q.id == item_id, _q.state == LEASED)
    return sa.and_(where, _q.worker_id == worker_id) if worker_id is not None else where


def ack(conn: Connection, item_id: int, worker_id: str | None = None) -> bool:
    """Done: remove the item. False when the lease was lost (it ran out and another worker has it)."""
    return bool(conn.execute(sa.delete(queue_items).where(_leased(item_id, worker_id))).rowcount)


def fail(
    conn: Connection,
    item_id: int,
    error: str,
    *,
    backoff_s: float = 1.0,
    retryable: bool = True,
    max_attempts: int | None = None,
    worker_id: str | None = None,
) -> int | None:
    """An attempt failed: due again after the backoff (returns when, ms), or dead-lettered (None)
    when no attempt is left (``max_attempts`` overrides the item's own) or it is not ``retryable``."""
    row = conn.execute(sa.select(_q.attempts, _q.max_attempts).where(_leased(item_id, worker_id))).first()
    if row is None:
        return None
    limit = row.max_attempts if max_attempts is None else max_attempts
    error = (error or "")[:2000]
    if not retryable or row.attempts >= limit:
        conn.execute(
            sa.update(queue_items).where(_q.id == item_id).values(state=DEAD, worker_id=None, last_error=error)
        )
        return None
    delay = backoff_delay(row.attempts, backoff_s)
    when = now_ms() + int(delay * 1000)
    conn.execute(
        sa.update(queue_items)
        .where(_q.id == item_id)
        .values(state=READY, worker_id=None, available_at=when, last_error=error, max_attempts=limit)
    )
    return when


def backoff_delay(attempts_done: int, backoff_s: float, max_backoff_s: float = MAX_BACKOFF_S) -> float:
    """Seconds before the next attempt: doubling per attempt, capped, with +-20% jitter."""
    base = backoff_s * 2 ** max(0, attempts_done - 1)
    return min(max_backoff_s, base) * random.uniform(0.8, 1.2)


def next_due(conn: Connection, queue: str) -> int | None:
    """When an item of ``queue`` is next claimable (ms), None when there is none."""
    stmt = sa.select(sa.func.min(_q.available_at)).where(_q.queue == queue, _q.state.in_([READY, LEASED]))
    return conn.execute(stmt).scalar()


def dead_letters(conn: Connection, queue: str, limit: int = 100, offset: int = 0) -> list[Item]:
    stmt = sa.select(queue_items).where(_q.queue == queue, _q.state == DEAD).order_by(_q.id)
    return [_item(r) for r in conn.execute(stmt.offset(offset).limit(limit))]


def requeue(conn: Connection, item_id: int, available_at: int | None = None) -> None:
    """A dead letter goes back to the queue with a fresh set of attempts."""
    done = conn.execute(
        sa.update(queue_items)
        .where(_q.id == item_id, _q.state == DEAD)
        .values(state=READY, attempts=0, available_at=available_at or now_ms())
    ).rowcount
    if not done:
        raise ResourceDoesNotExist(f"No dead-lettered queue item with id {item_id}")


def delete(conn: Connection, queue: str, dedup_keys: Sequence[str]) -> None:
    """Drop items by key (their work became moot, e.g. the webhook was deleted)."""
    if dedup_keys:
        conn.execute(sa.delete(queue_items).where(_q.queue == queue, _q.dedup_key.in_(list(dedup_keys))))


class Queue:
    """One named queue on a ``Database``, each call its own transaction."""

    def __init__(self, database, name: str) -> None:
        self.db = database
        self.name = name

    def put(self, payload: str, **options) -> int | None:
        with self.db.write() as conn:
            return put(conn, self.name, payload, **options)

    def claim(self, worker_id: str, lease_seconds: float, limit: int = 1) -> list[Item]:
        """(Run again after a deadlock: concurrent claimers on MariaDB can meet in index gaps.)"""
        return self.db.transaction(lambda conn: claim(conn, self.name, worker_id, lease_seconds, limit))

    def ack(self, item_id: int, worker_id: str | None = None) -> bool:
        with self.db.write() as conn:
            return ack(conn, item_id, worker_id)

    def fail(self, item_id: int, error: str, **options) -> int | None:
        with self.db.write() as conn:
            return fail(conn, item_id, error, **options)

    def next_due(self) -> int | None:
        with self.db.read() as conn:
            return next_due(conn, self.name)

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[Item]:
        with self.db.read() as conn:
            return dead_letters(conn, self.name, limit, offset)

    def requeue(self, item_id: int, available_at: int | None = None) -> None:
        with self.db.write() as conn:
            requeue(conn, item_id, available_at)
