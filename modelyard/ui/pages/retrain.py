"""A registered model's retraining history: each challenger a retraining registered, its metrics
beside the champion's it was compared with, its gates, the decision and why (``/models/{name}/retraining``).

A challenger that passed its gates and waits for a manual approval has an Approve button
(``static/retrain.js``, through the JSON ``/ajax-api/2.0/modelyard/retrain/approve``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, REGISTERED_MODEL, needs
from modelyard.retrain.service import RetrainService
from modelyard.ui.pages.registry import model_url, version_url
from modelyard.ui.templating import Crumb, page, page_route, render


def retraining_url(name: str) -> str:
    return model_url(name) + "/retraining"


@page
def retraining_page(services, request: Request, ctx: RequestContext):
    name = request.path_params["name"]
    model = services.registry.get_registered_model(ctx, name)
    records = RetrainService(services.registry, services.tracking).history(ctx, name)
    return render(
        request,
        "registry/retraining.html",
        [Crumb("Models", "/models"), Crumb(name, model_url(name)), Crumb("Retraining")],
        section="models",
        model=model,
        records=records,
        champion=model.aliases.get("champion"),
        model_url=model_url,
        version_url=version_url,
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/models/{name}/retraining", retraining_page, needs=needs(REGISTERED_MODEL, READ, "name")),
    ]
