"""``modelyard users``, ``tokens`` and ``audit`` on a server's database."""

from __future__ import annotations

import json


def test_users_tokens_and_audit_from_the_command_line(invoke, tracking_uri) -> None:
    db = ["--backend-store-uri", tracking_uri]
    made = invoke("users", "create", "alice", "--password-stdin", *db, input="a-long-user-password-9\n")
    assert made.exit_code == 0, made.output
    assert "Created user alice" in made.stdout
    weak = invoke("users", "create", "bob", "--password-stdin", *db, input="password1234\n")
    assert weak.exit_code == 1 and "most commonly used" in weak.stderr
    token = invoke(
        "tokens",
        "create",
        "--user",
        "alice",
        "--name",
        "ci",
        "--scope",
        "experiments:write",
        "--expires",
        "30d",
        *db,
    )
    assert token.exit_code == 0, token.output
    assert token.stdout.strip().startswith("myt_") and "not shown again" in token.stderr
    listed = json.loads(invoke("tokens", "list", "--user", "alice", "-o", "json", *db).stdout)
    assert [(t["name"], t["scopes"]) for t in listed] == [("ci", "experiments:write")]
    assert invoke("tokens", "revoke", listed[0]["id"], *db).exit_code == 0
    users = json.loads(invoke("users", "list", "-o", "json", *db).stdout)
    assert [u["username"] for u in users] == ["alice"]
    log = json.loads(invoke("audit", "list", "--user", "cli", "--since", "1h", "-o", "json", *db).stdout)
    assert [e["action"] for e in reversed(log)] == ["create user", "create token", "revoke token"]
    assert invoke("audit", "list", "--since", "yesterday", *db).exit_code == 1


def test_server_with_auth_refuses_to_start_without_an_admin_password(invoke, monkeypatch) -> None:
    for var in (
        "MODELYARD_ADMIN_PASSWORD",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_AUTH_CONFIG_PATH",
        "MODELYARD_AUTH_CONFIG_PATH",
        "MODELYARD_AUTH",
    ):
        monkeypatch.delenv(var, raising=False)
    result = invoke("server", "--auth", "--port", "0")
    assert result.exit_code == 1
    assert "no admin password" in result.stderr and "MODELYARD_ADMIN_PASSWORD" in result.stderr


def test_settings_switch_authentication_on(monkeypatch) -> None:
    from modelyard.auth.config import auth_config
    from modelyard.settings import Settings

    env = {
        "MODELYARD_AUTH": "true",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "from-mlflow-env-1",
        "MODELYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
    }
    config = auth_config(Settings.from_env(env))
    assert (config.enabled, config.admin_password, config.default_permission) == (
        True,
        "from-mlflow-env-1",
        "NO_PERMISSIONS",
    )
    assert not auth_config(Settings.from_env({})).enabled
