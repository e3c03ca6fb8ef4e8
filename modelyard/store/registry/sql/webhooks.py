"""Webhooks in SQL: subscriptions (CRUD) and reading their delivery log. The worker's side
(claiming, recording attempts) is in ``deliveries.py``, on the kernel's durable queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from modelyard.entities import PagedList, Webhook, WebhookDelivery, WebhookEvent, WebhookStatus
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.search.paging import offset_token, page_offset
from modelyard.store.registry import checks, targets
from modelyard.store.registry import tables as db
from modelyard.store.registry.sql import outbox
from modelyard.store.sql import queue
from modelyard.store.sql.common import now_ms

hooks = db.webhooks
deliveries = db.webhook_deliveries
MAX_NAME_LENGTH = 256
MAX_SECRET_LENGTH = 1000
MAX_RESPONSE_BODY = 1000


def _events(items: Sequence[WebhookEvent | str | dict] | None) -> list[WebhookEvent]:
    if not items:
        raise InvalidParameterValue("A webhook needs at least one event")
    return sorted({WebhookEvent.parse(e) for e in items})


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue("Missing value for required parameter 'name'.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterValue(f"Webhook name is longer than {MAX_NAME_LENGTH} characters")
    return name


def _secret(secret: object) -> str | None:
    if secret is None or secret == "":
        return None
    if not isinstance(secret, str) or len(secret) > MAX_SECRET_LENGTH:
        raise InvalidParameterValue(f"Webhook secret must be a string of at most {MAX_SECRET_LENGTH} characters")
    return secret


def _webhook(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        name=row.name,
        url=row.url,
        events=tuple(WebhookEvent.parse(e) for e in json.loads(row.events)),
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        status=WebhookStatus.parse(row.status),
        description=row.description,
        secret=row.secret,
    )


def row(conn: Connection, webhook_id: str) -> Any:
    found = conn.execute(select(hooks).where(hooks.c.webhook_id == webhook_id)).first() if webhook_id else None
    if found is None:
        raise ResourceDoesNotExist(f"Webhook with ID {webhook_id} not found.")
    return found


def create(
    conn: Connection,
    name: str,
    url: str,
    events: Sequence[WebhookEvent | str | dict],
    description: str | None,
    secret: str | None,
    status: str | None,
    allow_private: bool,
) -> Webhook:
    values = {
        "webhook_id": uuid.uuid4().hex,
        "name": _name(name),
        "url": targets.check(url, allow_private).url,
        "events": json.dumps([str(e) for e in _events(events)]),
        "description": checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH) or None,
        "secret": _secret(secret),
        "status": WebhookStatus.parse(status).value,
    }
    t = now_ms()
    conn.execute(hooks.insert().values(**values, creation_timestamp=t, last_updated_timestamp=t))
    return _webhook(row(conn, values["webhook_id"]))


def get(conn: Connection, webhook_id: str) -> Webhook:
    return _webhook(row(conn, webhook_id))


def list_page(conn: Connection, max_results: int, page_token: str | None) -> PagedList[Webhook]:
    offset = page_offset(page_token, query="webhooks")
    stmt = select(hooks).order_by(hooks.c.creation_timestamp.desc(), hooks.c.id.desc())
    rows = conn.execute(stmt.offset(offset).limit(max_results + 1)).all()
    token = offset_token(offset + max_results, query="webhooks") if len(rows) > max_results else None
    return PagedList([_webhook(r) for r in rows[:max_results]], token)


def update_fields(
    conn: Connection,
    webhook_id: str,
    name: str | None,
    description: str | None,
    url: str | None,
    events: Sequence[WebhookEvent | str | dict] | None,
    secret: str | None,
    status: str | None,
    allow_private: bool,
) -> Webhook:
    found = row(conn, webhook_id)
    values: dict[str, Any] = {"last_updated_timestamp": now_ms()}
    if name is not None:
        values["name"] = _name(name)
    if description is not None:
        values["description"] = checks.text(description, "description", checks.MAX_DESCRIPTION_LENGTH) or None
    if url is not None:
        values["url"] = targets.check(url, allow_private).url
    if events:
        values["events"] = json.dumps([str(e) for e in _events(events)])
    if secret is not None:
        values["secret"] = _secret(secret)
    if status is not None and status != "":
        values["status"] = WebhookStatus.parse(status).value
    conn.execute(update(hooks).where(hooks.c.id == found.id).values(**values))
    return get(conn, webhook_id)


def remove(conn: Connection, webhook_id: str) -> None:
    found = row(conn, webhook_id)
    ids = conn.execute(select(deliveries.c.delivery_id).where(deliveries.c.webhook_id == found.id)).scalars().all()
    queue.delete(conn, outbox.QUEUE, ids)  # their queued sends are moot now
    conn.execute(delete(deliveries).where(deliveries.c.webhook_id == found.id))
    conn.execute(delete(hooks).where(hooks.c.id == found.id))


# -- deliveries --------------------------------------------------------------------------------
def _delivery(r: Any, webhook_id: str) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=r.delivery_id,
        webhook_id=webhook_id,
        event=r.event,
        status=r.status,
        attempts=r.attempts,
        created_timestamp=r.created_timestamp,
        next_attempt_timestamp=r.next_attempt_timestamp,
        last_attempt_timestamp=r.last_attempt_timestamp,
        response_status=r.response_status,
        response_body=r.response_body,
        error_message=r.error_message,
        is_test=bool(r.is_test),
        payload=r.payload,
    )


def list_deliveries(
    conn: Connection, webhook_id: str, max_results: int, page_token: str | None
) -> PagedList[WebhookDelivery]:
    found = row(conn, webhook_id)
    query = ("webhook_deliveries", webhook_id)
    offset = page_offset(page_token, query=query)
    stmt = select(deliveries).where(deliveries.c.webhook_id == found.id).order_by(deliveries.c.id.desc())
    rows = conn.execute(stmt.offset(offset).limit(max_results + 1)).all()
    token = offset_token(offset + max_results, query=query) if len(rows) > max_results else None
    return PagedList([_delivery(r, webhook_id) for r in rows[:max_results]], token)
