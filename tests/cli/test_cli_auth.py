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
