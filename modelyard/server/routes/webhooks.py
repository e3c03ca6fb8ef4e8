"""Webhooks (MLflow 3's ``WebhookService``): create, list, get, update, delete, test; and
modelyard's delivery log (``GET /mlflow/webhooks/{webhook_id}/deliveries``).

Deliveries are made by the server's background worker (``modelyard.registry.dispatcher``), never
inside the request that caused the event. ``POST .../test`` sends one example event at once and
answers with what the receiver said. A webhook's secret is write-only.
"""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import CREATE, DELETE, MANAGE, READ, WEBHOOK, needs
from modelyard.server.protocol import Message, RouteTable
from modelyard.server.routes.runs import EnumValue, Int64
from modelyard.server.services import Services
from modelyard.store.registry.base import WEBHOOKS_DEFAULT

table = RouteTable()
BASE = "/mlflow/webhooks"


class EventSpec(Message):
    entity: EnumValue
    action: EnumValue


class CreateWebhook(Message):
    name: str
    url: str
    events: list[EventSpec] = []
    description: str | None = None
    secret: str | None = None
    status: EnumValue | None = None


class WebhookRef(Message):
    webhook_id: str


class UpdateWebhook(WebhookRef):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    events: list[EventSpec] = []
    secret: str | None = None
    status: EnumValue | None = None


class Paged(Message):
    max_results: Int64 = WEBHOOKS_DEFAULT
    page_token: str | None = None


class PagedDeliveries(WebhookRef, Paged):
    pass


class TestWebhook(WebhookRef):
    event: EventSpec | None = None


def _events(items: list[EventSpec]) -> list[dict]:
    return [{"entity": str(e.entity), "action": str(e.action)} for e in items]


def _status(value: str | int | None) -> str | None:
    """The status by name (proto numbers: 1 ACTIVE, 2 DISABLED)."""
    if value is None or isinstance(value, str):
        return value
    return {1: "ACTIVE", 2: "DISABLED"}.get(value, str(value))


@table.post(BASE, CreateWebhook, needs=needs(WEBHOOK, CREATE))
def create_webhook(svc: Services, m: CreateWebhook, ctx: RequestContext) -> dict:
    """Create a webhook (its URL must be public unless the operator allows private targets)."""
    hook = svc.registry.create_webhook(
        ctx, m.name, m.url, _events(m.events), m.description, m.secret, _status(m.status)
    )
    return {"webhook": hook.to_dict()}


@table.get(BASE, Paged, needs=needs(WEBHOOK, READ))
def list_webhooks(svc: Services, m: Paged, ctx: RequestContext) -> dict:
    """List webhooks, newest first."""
    page = svc.registry.list_webhooks(ctx, m.max_results, m.page_token)
    out: dict = {"webhooks": [w.to_dict() for w in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.get(BASE + "/{webhook_id}", WebhookRef, needs=needs(WEBHOOK, READ, "webhook_id"))
def get_webhook(svc: Services, m: WebhookRef, ctx: RequestContext) -> dict:
    """Get a webhook (without its secret)."""
    return {"webhook": svc.registry.get_webhook(ctx, m.webhook_id).to_dict()}


@table.patch(BASE + "/{webhook_id}", UpdateWebhook, needs=needs(WEBHOOK, MANAGE, "webhook_id"))
def update_webhook(svc: Services, m: UpdateWebhook, ctx: RequestContext) -> dict:
    """Update a webhook's name, description, URL, events, secret or status."""
    hook = svc.registry.update_webhook(
        ctx,
        m.webhook_id,
        m.name,
        m.description,
        m.url,
        _events(m.events) or None,
        m.secret,
        _status(m.status),
    )
    return {"webhook": hook.to_dict()}


@table.delete(BASE + "/{webhook_id}", WebhookRef, needs=needs(WEBHOOK, DELETE, "webhook_id"))
def delete_webhook(svc: Services, m: WebhookRef, ctx: RequestContext) -> dict:
    """Delete a webhook and its delivery log."""
    svc.registry.delete_webhook(ctx, m.webhook_id)
    return {}


@table.post(BASE + "/{webhook_id}/test", TestWebhook, needs=needs(WEBHOOK, MANAGE, "webhook_id"))
def test_webhook(svc: Services, m: TestWebhook, ctx: RequestContext) -> dict:
    """Send one example event now and report the receiver's answer."""
    event = {"entity": str(m.event.entity), "action": str(m.event.action)} if m.event else None
    return {"result": svc.registry.test_webhook(ctx, m.webhook_id, event, svc.settings).to_dict()}


@table.get(BASE + "/{webhook_id}/deliveries", PagedDeliveries, needs=needs(WEBHOOK, READ, "webhook_id"))
def list_webhook_deliveries(svc: Services, m: PagedDeliveries, ctx: RequestContext) -> dict:
    """modelyard: a webhook's delivery log, newest first (status, attempts, answers)."""
    page = svc.registry.list_webhook_deliveries(ctx, m.webhook_id, m.max_results, m.page_token)
    out: dict = {"deliveries": [d.to_dict() for d in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out
