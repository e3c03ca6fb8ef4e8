"""The route modules of the tracking server, one per resource: the table where a subsystem plugs in.

Each module exposes ``table: RouteTable`` (API endpoints) and/or ``extra_routes(services)`` (other
routes: the artifact proxy, downloads, the UI). A new subsystem (feature tables, jobs, auth) adds
its module here. The web UI is one of them: ``modelyard.ui`` never imports the server, the server
composes it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = (
    "modelyard.server.routes.meta",
    "modelyard.server.routes.experiments",
    "modelyard.server.routes.runs",
    "modelyard.server.routes.metrics",
    "modelyard.server.routes.columnar",  # modelyard's client's faster answers (server-info offers them)
    "modelyard.server.routes.artifacts",
    "modelyard.server.routes.logged_models",
    "modelyard.server.routes.proxy",
    "modelyard.server.routes.artifact_batches",  # many small artifacts per request (modelyard's client)
    "modelyard.server.routes.openapi",
    "modelyard.server.routes.registry",
    "modelyard.server.routes.model_versions",
    "modelyard.server.routes.webhooks",
    "modelyard.server.routes.users",  # users, permissions, tokens, audit (authentication on)
    "modelyard.server.routes.features",  # feature tables' catalog (modelyard/features)
    "modelyard.server.routes.jobs",
    "modelyard.server.routes.retrain",  # retraining history and approval (modelyard/retrain)
    "modelyard.ui.routes",  # the web UI's pages and static files (modelyard/ui)
)


def load(names: tuple[str, ...] = MODULES) -> list[ModuleType]:
    """The route modules, imported (a module whose optional dependency is missing is left out)."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return modules
