"""A logged model's own page: ``GET /logged-models/{model_id}``.

What MLflow shows for ``models:/m-...``: its metrics (with the run and dataset each came from),
params, tags, the runs it is linked to (the one that made it, and those whose metrics it holds),
the registered versions made from it, its artifacts and a snippet that loads it.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import LOGGED_MODEL, READ, needs
from modelyard.exceptions import ModelyardError
from modelyard.ui.templating import Crumb, page, page_route, render

MAX_VERSIONS = 200


def logged_model_url(model_id: str) -> str:
    return "/logged-models/" + quote(model_id, safe="")


def _versions(services, ctx: RequestContext, model) -> list:
    """Registered versions made from this logged model (found by its source run, then its id)."""
    if not model.source_run_id:
        return []
    try:
        found = services.registry.search_model_versions(
            ctx,
            filter_string="run_id = '" + model.source_run_id.replace("'", "''") + "'",
            max_results=MAX_VERSIONS,
        )
    except ModelyardError:
        return []
    return [
        v
        for v in found
        if v.model_id == model.model_id or (not v.model_id and (v.source or "").endswith("/" + model.name))
    ]


def _runs(services, ctx: RequestContext, model) -> list[dict]:
    ids = ([model.source_run_id] if model.source_run_id else []) + sorted(
        {m.run_id for m in model.metrics if m.run_id and m.run_id != model.source_run_id}
    )
    runs = []
    for run_id in ids:
        try:
            run = services.tracking.get_run(ctx, run_id)
            name = run.info.run_name or run_id
        except ModelyardError:
            name = None
        runs.append({"id": run_id, "name": name, "source": run_id == model.source_run_id})
    return runs


@page
def logged_model_page(services, request: Request, ctx: RequestContext):
    model = services.tracking.get_logged_model(ctx, request.path_params["model_id"])  # 404 page when missing
    experiment = services.tracking.get_experiment(ctx, model.experiment_id)
    return render(
        request,
        "logged_model.html",
        [
            Crumb("Experiments", "/experiments"),
            Crumb(experiment.name, f"/experiments/{quote(experiment.experiment_id, safe='')}"),
            Crumb(f"Model {model.name}"),
        ],
        section="experiments",
        model=model,
        experiment=experiment,
        metrics=sorted(model.metrics, key=lambda m: (m.key, m.step)),
        params=sorted(model.params.items()),
        tags=sorted(model.tags.items()),
        runs=_runs(services, ctx, model),
        versions=_versions(services, ctx, model),
        artifacts_href=(
            f"/runs/{quote(model.source_run_id, safe='')}/artifacts?model={quote(model.model_id, safe='')}"
            if model.source_run_id
            else None
        ),
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(
            services,
            "/logged-models/{model_id}",
            logged_model_page,
            needs=needs(LOGGED_MODEL, READ, "model_id"),
        )
    ]
