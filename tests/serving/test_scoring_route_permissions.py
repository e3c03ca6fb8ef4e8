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


def test_the_tokens_file_setting_and_flag(tmp_path) -> None:
    import pytest

    from modelyard.exceptions import InvalidParameterValue
    from modelyard.settings import Settings

    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# ci\ntok-one-123456\n\n tok-two-654321 \n")
    settings = Settings.from_env({"MODELYARD_SERVE_AUTH_TOKENS_FILE": str(tokens)})
    config = ServeConfig.from_settings(settings, models=[str(tmp_path / "model")])
    assert config.auth_tokens == ("tok-one-123456", "tok-two-654321")
    flag = ServeConfig.from_settings(Settings.from_env({}), models=["m"], auth_tokens_file=str(tokens))
    assert flag.auth_tokens == config.auth_tokens
    with pytest.raises(InvalidParameterValue, match="Cannot read the auth tokens file"):
        ServeConfig.from_settings(Settings.from_env({}), models=["m"], auth_tokens_file=str(tmp_path / "nope"))
