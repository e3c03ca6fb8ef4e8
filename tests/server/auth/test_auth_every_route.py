"""With authentication on, every route of the app — API (both prefixes), artifact proxy, downloads,
UI pages, users/permissions/tokens/audit — refuses an anonymous caller and one with a wrong
password, except the few declared public. Routes are enumerated from the app itself, so a route
added tomorrow is covered without editing this test."""

from __future__ import annotations

import re

from auth_helpers import basic  # type: ignore[import-not-found]
from starlette.routing import Mount, Route

from modelyard.auth.permissions import PUBLIC
from modelyard.web.routing import declared

# The jobs' trigger webhook is public to the authenticator: the trigger's own secret authenticates it.
JOB_HOOKS = ["/ajax-api/2.0/modelyard/jobs/webhook", "/api/2.0/modelyard/jobs/webhook"]
PUBLIC_PATHS = sorted(["/", "/health", "/signin", "/static", "/static/vendor/plotly.min.js", "/version", *JOB_HOOKS])


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_non_public_route_refuses_anonymous_and_wrong_credentials(auth_api) -> None:
    routes = list(declared(auth_api.app.router.routes))
    public = sorted({path for path, _r, p in routes if p is not None and p.resource == PUBLIC})
    assert public == PUBLIC_PATHS
    checked = 0
    for path, route, permission in routes:
        if permission is None or permission.resource == PUBLIC or not isinstance(route, Route):
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            for headers in ({}, basic("admin", "not-the-password-1")):
                r = auth_api.request(method, _concrete(path), headers=headers)
                assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
                checked += 1
    assert checked > 300


def test_mounted_apps_are_declared_too(auth_api) -> None:
    mounts = [(path, p) for path, r, p in declared(auth_api.app.router.routes) if isinstance(r, Mount)]
    assert all(p is not None for _path, p in mounts)
