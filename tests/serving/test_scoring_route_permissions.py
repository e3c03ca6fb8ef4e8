"""Every route of the scoring server declares the permission it needs (the seam the authentication
issue enforces tokens through): only liveness and readiness are public."""

from __future__ import annotations

from modelyard.auth.permissions import PUBLIC, SCORING
from modelyard.serving import ServeConfig, create_scoring_app
from modelyard.serving.config import parse_models
from modelyard.web.routing import declared


def test_every_scoring_route_declares_a_permission(tmp_path) -> None:
    app = create_scoring_app(ServeConfig(models=parse_models([str(tmp_path / "model")])))  # nothing loads here
    routes = list(declared(app.router.routes))
    assert [path for path, _r, p in routes if p is None] == []
    public = sorted(path for path, _r, p in routes if p.resource == PUBLIC)
    assert public == ["/health", "/ping", "/v2/health/live", "/v2/health/ready"]
    scoring = {path: p.action for path, _r, p in routes if p.resource == SCORING}
    assert scoring["/invocations"] == scoring["/v2/models/{model}/infer"] == "use"
    assert scoring["/webhooks/registry"] == "manage"
