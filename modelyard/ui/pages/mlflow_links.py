"""MLflow's UI links land on our pages.

The mlflow client and every integration print links such as
``http://host:5000/#/experiments/3/runs/<id>``. The browser never sends the part after ``#``: it
asks for ``/``, which redirects to ``/experiments`` keeping the fragment, and the small script
``static/mlflow_links.js`` (in every page's head) turns ``#/<route>`` into the path ``/<route>``.
The routes below answer those paths (the path forms MLflow's UI uses) with a redirect to our
page; where MLflow's path is already ours (``/experiments/<id>``, ``/models/<name>``,
``/models/<name>/versions/<v>``) the page itself answers.

| MLflow route                                   | our page                                  |
| ---------------------------------------------- | ----------------------------------------- |
| ``/experiments/<id>/runs/<run>[/<tab>]``       | ``/runs/<run>``                           |
| ``/experiments/<id>/runs/<run>/artifacts/<p>`` | ``/runs/<run>/artifacts?path=<p>``        |
| ``/experiments/<id>/models/<m-id>[/<tab>]``    | ``/logged-models/<m-id>``                 |
| ``/experiments/<id>/<tab>`` (runs, models...)  | ``/experiments/<id>``                     |
| ``/compare-runs?runs=[...]``                   | ``/compare?runs=[...]``                   |
| ``/compare-experiments?experiments=[...]``     | ``/experiments``                          |
| ``/metric/<key>?runs=[...]``, ``/metric?...``  | the run's page (one run), else ``/compare`` |
| ``/models/<name>/versions/<v>/<tab>``          | ``/models/<name>/versions/<v>``           |
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute

from modelyard.auth.permissions import READ, SERVER, needs
from modelyard.web.routing import route


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=302)


def _q(value: str) -> str:
    return quote(value, safe="")


async def run_tab(request: Request) -> RedirectResponse:
    return _to(f"/runs/{_q(request.path_params['run_id'])}")


async def run_artifacts(request: Request) -> RedirectResponse:
    path = request.path_params.get("path", "").strip("/")
    target = f"/runs/{_q(request.path_params['run_id'])}/artifacts"
    return _to(f"{target}?{urlencode({'path': path}, safe='/', quote_via=quote)}" if path else target)


async def logged_model(request: Request) -> RedirectResponse:
    return _to(f"/logged-models/{_q(request.path_params['model_id'])}")


async def experiment_tab(request: Request) -> RedirectResponse:
    return _to(f"/experiments/{_q(request.path_params['experiment_id'])}")


def _run_ids(values: list[str]) -> list[str]:
    ids: list[str] = []
    for raw in values:
        try:
            parsed = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
        except ValueError:
            parsed = []
        ids += [str(x).strip() for x in parsed if str(x).strip()] if isinstance(parsed, list) else []
    return ids


async def compare_runs(request: Request) -> RedirectResponse:
    """Two runs or more: the compare page; one (MLflow's metric page of a run): the run's page."""
    runs = request.query_params.getlist("runs")
    ids = _run_ids(runs)
    if len(ids) == 1:
        return _to(f"/runs/{_q(ids[0])}")
    return _to("/compare?" + urlencode([("runs", r) for r in runs]) if ids else "/experiments")


async def experiments(request: Request) -> RedirectResponse:
    return _to("/experiments")


async def version_tab(request: Request) -> RedirectResponse:
    p = request.path_params
    return _to(f"/models/{_q(p['name'])}/versions/{_q(p['version'])}")


def routes(services) -> list[BaseRoute]:
    get = ["GET"]
    ui = needs(SERVER, READ)  # a redirect shows nothing: the page it leads to checks its own permission
    return [
        route("/experiments/{experiment_id}/runs/{run_id}/artifacts", run_artifacts, methods=get, needs=ui),
        route(
            "/experiments/{experiment_id}/runs/{run_id}/artifacts/{path:path}",
            run_artifacts,
            methods=get,
            needs=ui,
        ),
        route("/experiments/{experiment_id}/runs/{run_id}/{tab:path}", run_tab, methods=get, needs=ui),
        route("/experiments/{experiment_id}/models/{model_id}", logged_model, methods=get, needs=ui),
        route(
            "/experiments/{experiment_id}/models/{model_id}/{tab:path}", logged_model, methods=get, needs=ui
        ),
        route("/experiments/{experiment_id}/logged-models/{model_id}", logged_model, methods=get, needs=ui),
        route("/experiments/{experiment_id}/{tab}", experiment_tab, methods=get, needs=ui),
        route("/compare-runs", compare_runs, methods=get, needs=ui),
        route("/metric", compare_runs, methods=get, needs=ui),
        route("/metric/{key:path}", compare_runs, methods=get, needs=ui),
        route("/compare-experiments", experiments, methods=get, needs=ui),
        route("/compare-experiments/{rest:path}", experiments, methods=get, needs=ui),
        route("/models/{name}/versions/{version}/{tab:path}", version_tab, methods=get, needs=ui),
    ]
