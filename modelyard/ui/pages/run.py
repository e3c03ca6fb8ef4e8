"""Run detail: info, params, metrics with step charts, editable tags and description, logged models.

``GET /runs/{run_id}``; ``/experiments/{experiment_id}/runs/{run_id}`` redirects there. The page
reads the run, its experiment, its parent's name and its logged models; the charts are drawn by
the page's JavaScript from ``/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval``, which
samples the history in the database (a 1,000,000-point metric comes back as about a thousand
points), one chart at a time as it scrolls into view. Tags, the description
(``mlflow.note.content``) and the name are changed through the JSON endpoints ``runs/set-tag``,
``runs/delete-tag`` and ``runs/update``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, needs
from modelyard.exceptions import ModelyardError, NotImplementedFeature, ResourceDoesNotExist
from modelyard.ui.templating import Crumb, page, page_route, render

NOTE_TAG = "mlflow.note.content"
PARENT_TAG = "mlflow.parentRunId"
MAX_MODELS = 100
MAX_CHILDREN = 50
CHART_POINTS = 1000  # points asked per chart (the server samples the steps)
LIVE_MS = 3000  # a running run's page refreshes its status and charts this often


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _logged_models(services, ctx: RequestContext, run) -> list:
    """Logged models of the run: those it produced (source_run_id) and its recorded outputs."""
    store = services.tracking
    found: dict = {}
    try:
        for model in store.search_logged_models(
            ctx,
            [run.info.experiment_id],
            filter_string=f"source_run_id = {_quote(run.info.run_id)}",
            max_results=MAX_MODELS,
        ):
            found[model.model_id] = model
        for output in run.outputs.model_outputs[:MAX_MODELS]:
            if output.model_id not in found:
                try:
                    found[output.model_id] = store.get_logged_model(ctx, output.model_id)
                except ResourceDoesNotExist:
                    continue
    except NotImplementedFeature:  # a store without logged models
        return []
    return sorted(found.values(), key=lambda m: (-(m.creation_timestamp or 0), m.model_id))


def _versions(services, ctx: RequestContext, run) -> list:
    """Registered model versions made from this run's models, newest first."""
    try:
        found = services.registry.search_model_versions(
            ctx, filter_string=f"run_id = {_quote(run.info.run_id)}", max_results=MAX_MODELS
        )
    except ModelyardError:
        return []
    return sorted(found, key=lambda v: (v.name, -int(v.version)))


def _parent(services, ctx: RequestContext, run) -> dict | None:
    parent_id = run.data.tags.get(PARENT_TAG)
    if not parent_id:
        return None
    try:
        parent = services.tracking.get_run(ctx, parent_id)
    except ModelyardError:
        return {"id": parent_id, "name": parent_id, "exists": False}
    return {"id": parent_id, "name": parent.info.run_name or parent_id, "exists": True}


def _children(services, ctx: RequestContext, run) -> list:
    try:
        return list(
            services.tracking.search_runs(
                ctx,
                [run.info.experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = {_quote(run.info.run_id)}",
                max_results=MAX_CHILDREN,
            )
        )
    except ModelyardError:
        return []


@page
def run_page(services, request: Request, ctx: RequestContext):
    run = services.tracking.get_run(ctx, request.path_params["run_id"])  # 404 page when missing
    experiment = services.tracking.get_experiment(ctx, run.info.experiment_id)
    tags = run.data.tags
    name = run.info.run_name or tags.get("mlflow.runName") or run.info.run_id
    user_tags = sorted((k, v) for k, v in tags.items() if not k.startswith("mlflow."))
    system_tags = sorted((k, v) for k, v in tags.items() if k.startswith("mlflow.") and k != NOTE_TAG)
    metrics = sorted(run.data.metric_objs, key=lambda m: m.key)
    return render(
        request,
        "run.html",
        [
            Crumb("Experiments", "/experiments"),
            Crumb(experiment.name, f"/experiments/{experiment.experiment_id}"),
            Crumb(name),
        ],
        section="experiments",
        run=run,
        name=name,
        experiment=experiment,
        description=tags.get(NOTE_TAG, ""),
        params=sorted(run.data.params.items()),
        metrics=metrics,
        user_tags=user_tags,
        system_tags=system_tags,
        source={
            "name": tags.get("mlflow.source.name", ""),
            "type": tags.get("mlflow.source.type", ""),
            "commit": tags.get("mlflow.source.git.commit", ""),
        },
        user=run.info.user_id or tags.get("mlflow.user", ""),
        parent=_parent(services, ctx, run),
        children=_children(services, ctx, run),
        models=_logged_models(services, ctx, run),
        versions=_versions(services, ctx, run),
        datasets=run.inputs.dataset_inputs,
        chart_points=CHART_POINTS,
        live_ms=LIVE_MS,
    )


@page
def run_in_experiment(services, request: Request, ctx: RequestContext):
    """``/experiments/{experiment_id}/runs/{run_id}``: the run's own page (404 if the run is not in it)."""
    run = services.tracking.get_run(ctx, request.path_params["run_id"])
    if run.info.experiment_id != request.path_params["experiment_id"]:
        raise ResourceDoesNotExist(
            f"Run '{run.info.run_id}' is not in experiment '{request.path_params['experiment_id']}'."
        )
    return RedirectResponse(f"/runs/{run.info.run_id}", status_code=302)


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/runs/{run_id}", run_page, needs=needs(RUN, READ, "run_id")),
        page_route(
            services,
            "/experiments/{experiment_id}/runs/{run_id}",
            run_in_experiment,
            needs=needs(RUN, READ, "run_id"),
        ),
    ]
