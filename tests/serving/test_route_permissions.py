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


def test_bearer_tokens_guard_every_route_but_liveness_and_readiness(serve, model_dir, data) -> None:
    serving = serve(str(model_dir), auth_tokens=("tok-one-123456", "tok-two-654321"))
    body = {"dataframe_split": data.head(2).to_dict(orient="split")}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dG9rLW9uZQ=="}):
        r = serving.post("/invocations", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert serving.get("/v2/models/model", headers=headers).status_code == 401
    assert serving.get("/ping").status_code == 200 and serving.get("/v2/health/ready").status_code == 200
    ok = serving.post("/invocations", json=body, headers={"Authorization": "Bearer tok-two-654321"})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
