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
    with pytest.raises(InvalidParameterValue, match="Cannot read the auth tokens file"):
        ServeConfig.from_settings(
            Settings.from_env({}), models=["m"], auth_tokens_file=str(tmp_path / "nope")
        )
