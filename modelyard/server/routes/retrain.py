"""Retraining (``modelyard.retrain``): a registered model's retraining history, and the manual
approval that moves ``@champion`` to a challenger waiting for it. Under
``/api/2.0/modelyard/retrain``; a model is named by ``name``."""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import MANAGE, READ, REGISTERED_MODEL, needs
from modelyard.retrain.service import RetrainService
from modelyard.server.protocol import Message, RouteTable
from modelyard.server.routes.runs import Int64
from modelyard.server.services import Services

table = RouteTable()
BASE = "/modelyard/retrain"


class History(Message):
    name: str
    max_results: Int64 = 50


class Approve(Message):
    name: str
    version: str
    note: str | None = None


def service(svc: Services) -> RetrainService:
    return RetrainService(svc.registry, svc.tracking)


@table.get(BASE + "/history", History, needs=needs(REGISTERED_MODEL, READ, "name"))
def history(svc: Services, m: History, ctx: RequestContext) -> dict:
    """Each retraining of the model, newest first: challenger vs champion metrics, gates, decision."""
    return {"retrainings": [r.to_dict() for r in service(svc).history(ctx, m.name, m.max_results)]}


@table.post(BASE + "/approve", Approve, needs=needs(REGISTERED_MODEL, MANAGE, "name"))
def approve(svc: Services, m: Approve, ctx: RequestContext) -> dict:
    """Approve a challenger that passed its gates: ``@champion`` moves to it, the reason names the approver."""
    return {"retraining": service(svc).approve(ctx, m.name, m.version, m.note).to_dict()}
