"""What the tracking server mounts for the web UI: pages, our static files and plotly.js.

plotly.js is the copy inside the installed ``plotly`` package (found without importing it), so
the UI works on machines with no internet access.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles

from modelyard.auth.permissions import public
from modelyard.ui.pages import (  # each: routes(services)
    account,
    artifacts,
    compare,
    experiments,
    features,
    jobs,
    logged_models,
    mlflow_links,
    registry,
    retrain,
    run,
    runs,
)
from modelyard.web.routing import mount, route

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path | None:
    """``plotly.min.js`` of the installed plotly package, or None when plotly is missing."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


async def _plotly(request: Request) -> Response:
    path = plotly_js()
    if path is None:
        return PlainTextResponse("plotly is not installed: pip install plotly", status_code=404)
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


async def _home(request: Request) -> Response:
    return RedirectResponse("/experiments", status_code=302)


def extra_routes(services) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        route("/", _home, methods=["GET"], needs=public()),
        route("/static/vendor/plotly.min.js", _plotly, methods=["GET", "HEAD"], needs=public()),
        mount("/static", StaticFiles(directory=str(STATIC)), name="static", needs=public()),
    ]
    # mlflow_links last: MLflow's UI paths redirect to the pages before it
    for module in (
        experiments, runs, run, artifacts, compare, registry, retrain, logged_models, features, jobs, account,
        mlflow_links,
    ):
        routes.extend(module.routes(services))
    return routes
