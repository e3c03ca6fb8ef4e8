"""Bearer-token authentication of a scoring server (``--auth-tokens-file``): every route but
liveness and readiness needs one of the configured tokens."""

from __future__ import annotations

import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.serving import ServeConfig
from modelyard.settings import Settings


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
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# ci\ntok-one-123456\n\n tok-two-654321 \n")
    settings = Settings.from_env({"MODELYARD_SERVE_AUTH_TOKENS_FILE": str(tokens)})
    config = ServeConfig.from_settings(settings, models=[str(tmp_path / "model")])
    assert config.auth_tokens == ("tok-one-123456", "tok-two-654321")
    flag = ServeConfig.from_settings(Settings.from_env({}), models=["m"], auth_tokens_file=str(tokens))
    assert flag.auth_tokens == config.auth_tokens
    store = Settings.from_env({"MODELYARD_SERVE_AUTH_STORE": "sqlite:///t.db", "MODELYARD_AUTH_DEFAULT_PERMISSION": "USE"})
    by_env = ServeConfig.from_settings(store, models=["m"])
    assert (by_env.auth_store, by_env.auth_default_permission) == ("sqlite:///t.db", "USE")
    with pytest.raises(InvalidParameterValue, match="Cannot read the auth tokens file"):
        ServeConfig.from_settings(
            Settings.from_env({}), models=["m"], auth_tokens_file=str(tmp_path / "nope")
        )


def test_tokens_of_the_tracking_servers_auth_store_scoped_and_revocable(serve, registry, data) -> None:
    """``--auth-store URI``: the tracking database's API tokens work on the scoring server: active,
    scoped to models, their user allowed to USE the served model; a revocation made by the tracking
    server (another process's service here) takes effect at the next request."""
    from modelyard.auth.context import Principal, RequestContext
    from modelyard.auth.runtime import open_service

    uri, _client = registry
    tracking, close = open_service(uri)  # what the tracking server does on the same database
    ctx = RequestContext(Principal("admin", authenticated=True, admin=True, method="password"), None, "t")
    for name in ("alice", "bob"):
        tracking.create_user(ctx, name, "a-long-user-password-9")
    tracking.grant(ctx, "registered_model", "churn", "alice", "USE")  # bob: the default, READ

    def token_of(user: str, scopes: str) -> tuple[dict, int]:
        owner = RequestContext(Principal(user, authenticated=True, method="password"), None, "t")
        secret, token = tracking.create_token(owner, f"{user}-{scopes}", scopes)
        return {"Authorization": f"Bearer {secret}"}, token.id

    alice, alice_id = token_of("alice", "models:use")
    alice_experiments, _ = token_of("alice", "experiments:write")
    bob, _ = token_of("bob", "models:use")
    serving = serve("models:/churn@champion", tracking_uri=uri, auth_store=uri, auth_tokens=("static-token-123",))
    try:
        body = {"dataframe_split": data.head(2).to_dict(orient="split")}
        ok = serving.post("/invocations", json=body, headers=alice)
        assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
        assert serving.post("/invocations", json=body, headers={"Authorization": "Bearer static-token-123"}).status_code == 200
        # bob may read (the default) but not score; alice's experiments token has no models scope
        assert serving.get("/v2/models/churn", headers=bob).status_code == 200
        denied = serving.post("/invocations", json=body, headers=bob)
        assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
        assert serving.post("/invocations", json=body, headers=alice_experiments).status_code == 403
        unknown = serving.post("/invocations", json=body, headers={"Authorization": "Bearer myt_not-a-token-at-all"})
        assert unknown.status_code == 401 and unknown.headers["www-authenticate"].startswith("Bearer")
        # the tracking server revokes alice's token, and gives bob USE: both count at once
        tracking.revoke_token(ctx, alice_id)
        tracking.grant(ctx, "registered_model", "churn", "bob", "USE")
        assert serving.post("/invocations", json=body, headers=alice).status_code == 401
        assert serving.post("/invocations", json=body, headers=bob).status_code == 200
    finally:
        serving.app.state.store_tokens.close()
        close()
