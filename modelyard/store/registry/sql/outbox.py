"""The webhook outbox: a registry change queues one delivery per subscribed webhook, in the same
transaction as the change, so an event is never lost nor sent for a change that rolled back.

The body of a delivery is fixed when it is queued (retries send the same bytes)::

    {"entity": "model_version", "action": "created", "timestamp": "2026-11-28T10:00:00.123456+00:00",
     "data": {"name": "churn", "version": "3", ...}}

Each delivery is logged in ``webhook_deliveries`` (what the API lists) and put on the kernel's
durable queue (queue ``webhooks``) in the same transaction; a background worker
(``modelyard.registry.dispatcher``) claims and sends them. ``take_queued(conn)`` tells the store
whether to wake it after commit.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from modelyard.entities import WebhookEvent
from modelyard.entities import webhook as events
from modelyard.entities.webhook import DeliveryStatus, WebhookStatus
from modelyard.store.registry import tables as db
from modelyard.store.sql import queue
from modelyard.store.sql.common import now_ms

QUEUE = "webhooks"  # the kernel queue (modelyard.store.sql.queue) the sends go on; payload: delivery id
# Registry events consumed inside the platform (the jobs scheduler's model_version_created and
# alias_moved triggers), on the kernel's platform-event queue (queue.EVENTS_QUEUE), committed with
# the change: payload {"event": "model_version.created", "data": <the webhook data>}. Consumers
# claim, act (idempotently: the item id keys what they do) and ack.
EVENTS_QUEUE = queue.EVENTS_QUEUE
PLATFORM_EVENTS = frozenset({events.MODEL_VERSION_CREATED, events.MODEL_VERSION_ALIAS_CREATED})
_QUEUED = "modelyard.registry.outbox"  # key in Connection.info: deliveries queued this transaction


def envelope(event: WebhookEvent, data: dict[str, Any], when: datetime | None = None) -> str:
    body = {
        "entity": event.entity.lower(),
        "action": event.action.lower(),
        "timestamp": (when or datetime.now(UTC)).isoformat(),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=False)


def subscribers(conn: Connection, event: WebhookEvent) -> list[int]:
    hooks = db.webhooks
    rows = conn.execute(select(hooks.c.id, hooks.c.events).where(hooks.c.status == WebhookStatus.ACTIVE.value))
    wanted = str(event)
    return [row.id for row in rows if wanted in json.loads(row.events)]


def new_delivery(webhook_row_id: int, event: WebhookEvent, payload: str, *, is_test: bool = False) -> dict:
    t = now_ms()
    return {
        "delivery_id": uuid.uuid4().hex,
        "webhook_id": webhook_row_id,
        "event": str(event),
        "payload": payload,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "created_timestamp": t,
        "next_attempt_timestamp": t,
        "is_test": is_test,
    }


def emit(conn: Connection, event: WebhookEvent, data: dict[str, Any]) -> int:
    """Queue ``event`` for every active webhook subscribed to it; returns how many. The events
    the platform itself consumes (``PLATFORM_EVENTS``) also go on the ``registry-events`` queue."""
    if event in PLATFORM_EVENTS:
        queue.put_event(conn, str(event), data)
    targets = subscribers(conn, event)
    if not targets:
        return 0
    payload = envelope(event, data)
    rows = [new_delivery(t, event, payload) for t in targets]
    conn.execute(db.webhook_deliveries.insert(), rows)
    for r in rows:  # the sends, on the durable queue, committed with the change
        key = r["delivery_id"]
        queue.put(conn, QUEUE, key, available_at=r["created_timestamp"], dedup_key=key, fresh_key=True)
    conn.info[_QUEUED] = conn.info.get(_QUEUED, 0) + len(targets)
    return len(targets)


def take_queued(conn: Connection) -> int:
    """How many deliveries this connection queued since the last call (and reset the count)."""
    return conn.info.pop(_QUEUED, 0)
