"""Every route of the tracking server declares the permission it needs, and every request passes
the one authorizer seam with the request's context (principal resolved once, by the middleware)."""

from __future__ import annotations

from starlette.routing import Mount

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import ACTIONS, PUBLIC, Permission
from modelyard.exceptions import PermissionDenied
from modelyard.web.routing import declared

API = "/api/2.0/mlflow"


def _routes(app):
    return list(declared(app.router.routes))


def test_every_route_of_the_app_declares_a_permission(api) -> None:
    routes = _routes(api.app)
    assert len(routes) > 150  # the API (both prefixes), the proxy, downloads, the UI, static files
    missing = [
        path for path, route, permission in routes if permission is None and not isinstance(route, Mount)
    ]
    assert missing == []
    for path, _route, permission in routes:
        if permission is not None:
            assert isinstance(permission, Permission) and permission.action in ACTIONS, path


def test_only_health_version_home_and_static_files_are_public(api) -> None:
    public = sorted({path for path, _r, p in _routes(api.app) if p is not None and p.resource == PUBLIC})
    # The jobs webhook authenticates its caller by the secret of the job's webhook trigger.
    hooks = ["/ajax-api/2.0/modelyard/jobs/webhook", "/api/2.0/modelyard/jobs/webhook"]
    assert public == sorted(["/", "/health", "/static", "/static/vendor/plotly.min.js", "/version", *hooks])


class _Recorder:
    """An authorizer that records what it is asked and refuses one kind of action."""

    def __init__(self, refuse: tuple[str, str] | None = None) -> None:
        self.seen: list[tuple[str | None, str, str, object]] = []
        self.refuse = refuse

    def authorize(self, ctx: RequestContext, permission: Permission, resource_id) -> None:
        self.seen.append((ctx.principal.name, permission.resource, permission.action, resource_id))
        if self.refuse == (permission.resource, permission.action):
            raise PermissionDenied(f"{ctx.principal.name} may not {permission.action} {resource_id}")


def test_api_proxy_and_ui_requests_reach_the_authorizer_with_the_principal(api) -> None:
    recorder = _Recorder()
    api.app.state.authorizer = recorder
    headers = {"X-Modelyard-User": "ada"}
    run = api.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers=headers).json()["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["user_id"] == "ada"  # the principal, not a body field, owns the run
    api.post(
        f"{API}/runs/log-metric",
        json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1},
        headers=headers,
    )
    api.request("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/x.txt", content=b"x", headers=headers)
    api.get(f"/runs/{run_id}", headers=headers)
    assert ("ada", "experiment", "update", "0") in recorder.seen
    assert ("ada", "run", "update", run_id) in recorder.seen
    assert ("ada", "artifact", "update", "0/x.txt") in recorder.seen
    assert ("ada", "run", "read", run_id) in recorder.seen


def test_a_refusal_is_a_clean_403_in_the_api_and_a_page_in_the_ui(api) -> None:
    recorder = _Recorder(refuse=("run", "read"))
    api.app.state.authorizer = recorder
    run_id = api.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    r = api.get(f"{API}/runs/get", params={"run_id": run_id}, headers={"X-Modelyard-User": "eve"})
    assert r.status_code == 403
    assert r.json() == {"error_code": "PERMISSION_DENIED", "message": f"eve may not read {run_id}"}
    page = api.get(f"/runs/{run_id}", headers={"X-Modelyard-User": "eve"})
    assert page.status_code == 403 and "PERMISSION_DENIED" in page.text and "<html" in page.text.lower()
