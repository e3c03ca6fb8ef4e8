"""The delivery worker's side of webhooks: claim queued deliveries, record each attempt.

Sending is work on the kernel's durable queue (``modelyard.store.sql.queue``, queue ``webhooks``,
one item per delivery, keyed by its delivery id): the queue leases, retries with backoff and
dead-letters; ``webhook_deliveries`` stays the delivery log the API shows, moving PENDING ->
IN_FLIGHT (claimed) -> SUCCEEDED | PENDING (a retry is due) | FAILED (attempts exhausted, or an
answer not worth retrying). A claim and its log update are one transaction, as are an attempt's
outcome in the queue and in the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from modelyard.entities import WebhookEvent
from modelyard.entities.webhook import DeliveryStatus
from modelyard.store.registry import tables as db
from modelyard.store.registry.sql import outbox
from modelyard.store.registry.sql.webhooks import MAX_RESPONSE_BODY, row
from modelyard.store.sql import queue
from modelyard.store.sql.common import now_ms

hooks = db.webhooks
deliveries = db.webhook_deliveries


def claim_due(conn: Connection, limit: int, lease_ms: int, worker_id: str) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due deliveries to ``worker_id``, with their targets."""
    items = queue.claim(conn, outbox.QUEUE, worker_id, lease_ms / 1000, limit)
    if not items:
        return []
    by_delivery = {item.payload: item for item in items}
    stmt = (
        select(deliveries, hooks.c.url, hooks.c.secret, hooks.c.webhook_id.label("public_webhook_id"))
        .select_from(deliveries.join(hooks, hooks.c.id == deliveries.c.webhook_id))
        .where(deliveries.c.delivery_id.in_(list(by_delivery)))
        .order_by(deliveries.c.id)
    )
    claims = [dict(r._mapping) for r in conn.execute(stmt)]
    found = {c["delivery_id"] for c in claims}
    for delivery_id, item in by_delivery.items():
        if delivery_id not in found:  # its webhook was deleted meanwhile: nothing to send
            queue.ack(conn, item.id)
    if claims:
        lease_until = max(item.available_at for item in items)
        conn.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id.in_(list(found)))
            .values(status=DeliveryStatus.IN_FLIGHT.value, claimed_until=lease_until)
        )
    for claim in claims:
        item = by_delivery[claim["delivery_id"]]
        claim.update(queue_item_id=item.id, worker_id=worker_id)
    return claims


def settle(
    conn: Connection,
    claim: dict[str, Any],
    *,
    succeeded: bool,
    response_status: int | None,
    response_body: str | None,
    error_message: str | None,
    retryable: bool,
    backoff_s: float,
    max_attempts: int,
) -> None:
    """Record one attempt of a claimed delivery: done, due again after the backoff, or FAILED."""
    item_id, worker_id = claim["queue_item_id"], claim["worker_id"]
    retry_at = None
    if succeeded:
        queue.ack(conn, item_id, worker_id)
    else:
        retry_at = queue.fail(
            conn,
            item_id,
            error_message or f"HTTP {response_status}",
            backoff_s=backoff_s,
            retryable=retryable,
            max_attempts=max_attempts,
            worker_id=worker_id,
        )
    finish(
        conn,
        claim["delivery_id"],
        succeeded=succeeded,
        response_status=response_status,
        response_body=response_body,
        error_message=error_message,
        retry_at=retry_at,
    )


def finish(
    conn: Connection,
    delivery_id: str,
    *,
    succeeded: bool,
    response_status: int | None,
    response_body: str | None,
    error_message: str | None,
    retry_at: int | None,
) -> None:
    """Log one attempt: SUCCEEDED, PENDING again until ``retry_at``, or FAILED (no retry_at)."""
    if succeeded:
        status = DeliveryStatus.SUCCEEDED
    elif retry_at is not None:
        status = DeliveryStatus.PENDING
    else:
        status = DeliveryStatus.FAILED
    conn.execute(
        update(deliveries)
        .where(deliveries.c.delivery_id == delivery_id)
        .values(
            status=status.value,
            attempts=deliveries.c.attempts + 1,
            last_attempt_timestamp=now_ms(),
            next_attempt_timestamp=retry_at,
            claimed_until=None,
            response_status=response_status,
            response_body=(response_body or "")[:MAX_RESPONSE_BODY] or None,
            error_message=(error_message or "")[:MAX_RESPONSE_BODY] or None,
        )
    )


def record_test(
    conn: Connection, webhook_id: str, event: WebhookEvent, payload: str
) -> tuple[str, str, str | None]:
    """Log a test delivery as in flight (sent by the caller, once: never queued); returns
    (delivery_id, url, secret)."""
    found = row(conn, webhook_id)
    values = outbox.new_delivery(found.id, event, payload, is_test=True)
    values.update(status=DeliveryStatus.IN_FLIGHT.value, next_attempt_timestamp=None, claimed_until=now_ms() + 60_000)
    conn.execute(deliveries.insert().values(**values))
    return values["delivery_id"], found.url, found.secret


def next_due(conn: Connection) -> int | None:
    """When a delivery next becomes claimable (ms since the epoch), None when nothing is queued."""
    return queue.next_due(conn, outbox.QUEUE)
