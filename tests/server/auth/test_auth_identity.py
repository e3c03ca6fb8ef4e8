"""Identity: passwords (argon2, policy), the admin bootstrap, HTTP Basic and bearer tokens, 401s."""

from __future__ import annotations

import base64

import pytest
from auth_helpers import ADMIN, API, PASSWORD, basic  # type: ignore[import-not-found]

from modelyard.auth import passwords
from modelyard.auth.config import AuthConfig, from_ini
from modelyard.exceptions import InvalidParameterValue


def test_passwords_are_argon2_hashes_and_verify() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password("not-a-hash", PASSWORD)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "cannot be empty"),
        ("short-9", "at least 12"),
        ("password1234", "most commonly used"),
        ("Qwertyuiop123!", "most commonly used"),
        ("aaaaaaaaaaaaaaa", "most commonly used"),
        ("alice-is-my-password", "user name"),
    ],
)
def test_the_password_policy_names_the_rule_broken(password: str, rule: str) -> None:
    with pytest.raises(InvalidParameterValue, match=rule):
        passwords.check_policy(password, "alice")


def test_a_server_with_auth_refuses_to_start_without_an_admin_password(make_auth_api) -> None:
    with pytest.raises(InvalidParameterValue, match="no admin password"):
        make_auth_api(admin_password=None)


def test_mlflow_basic_auth_ini_supplies_the_admin(tmp_path) -> None:
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\nadmin_username = root\nadmin_password = from-ini-secret-1\n"
    )
    config = from_ini(AuthConfig(enabled=True), str(ini))
    assert (config.admin_username, config.admin_password, config.default_permission) == (
        "root",
        "from-ini-secret-1",
        "NO_PERMISSIONS",
    )
    assert config.check() is config


def test_requests_without_or_with_wrong_credentials_get_401_with_a_basic_challenge(auth_api, users) -> None:
    users("alice")
    for headers in ({}, basic("alice", "wrong-password-123"), basic("nobody")):
        r = auth_api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="modelyard"'
        assert r.json()["error_code"] == "UNAUTHENTICATED"
    ok = auth_api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers=basic("alice"))
    assert ok.status_code == 200
    assert auth_api.get("/health").status_code == 200  # public


@pytest.mark.parametrize(
    "header",
    [
        'Digest username="admin", realm="x", nonce="1", uri="/", response="2"',
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b":only-password").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic",
        "Bearer",
        "Bearer " + "x" * 20000,
        "",
        "   ",
        "Negotiate abc",
    ],
)
def test_any_malformed_authorization_header_is_a_clean_401(auth_api, header: str) -> None:
    r = auth_api.get(
        f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Authorization": header}
    )
    assert r.status_code == 401
    assert r.json()["error_code"] == "UNAUTHENTICATED"


def test_a_claimed_user_header_is_not_an_identity_when_auth_is_on(auth_api) -> None:
    r = auth_api.get(
        f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"X-Modelyard-User": "admin"}
    )
    assert r.status_code == 401


def test_failed_sign_ins_are_rate_limited_per_user(make_auth_api) -> None:
    api = make_auth_api(max_failed_signins=3)
    for _ in range(3):
        assert (
            api.get(f"{API}/users/current", headers=basic("admin", "wrong-password-123")).status_code == 401
        )
    # the right password is refused too while the user is locked out
    assert api.get(f"{API}/users/current", headers=ADMIN).status_code == 401


def test_tokens_are_shown_once_stored_hashed_scoped_and_revocable(auth_api, users) -> None:
    (alice,) = users("alice")
    r = auth_api.post(
        "/api/2.0/modelyard/tokens/create",
        json={"name": "ci", "scopes": "experiments:write", "expires_in": "30d"},
        headers=alice,
    )
    assert r.status_code == 200, r.text
    secret, token = r.json()["secret"], r.json()["token"]
    assert secret.startswith("myt_") and token["scopes"] == "experiments:write" and token["expires_at"]
    bearer = {"Authorization": f"Bearer {secret}"}
    created = auth_api.post(f"{API}/experiments/create", json={"name": "by-token"}, headers=bearer)
    assert created.status_code == 200, created.text
    # the token may not touch models (its scope), nor manage users
    denied = auth_api.post(f"{API}/registered-models/create", json={"name": "m"}, headers=bearer)
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    listed = auth_api.get("/api/2.0/modelyard/tokens/list", headers=alice).json()["tokens"]
    assert [t["name"] for t in listed] == ["ci"] and "secret" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    # a token works as the password of HTTP Basic too (for tools that only do Basic)
    as_basic = basic("alice", secret)
    assert (
        auth_api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers=as_basic).status_code
        == 200
    )
    auth_api.post("/api/2.0/modelyard/tokens/revoke", json={"token_id": token["id"]}, headers=alice)
    r = auth_api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers=bearer)
    assert r.status_code == 401


def test_an_expired_token_is_refused(auth_api, users) -> None:
    (alice,) = users("alice")
    secret = auth_api.post(
        "/api/2.0/modelyard/tokens/create", json={"name": "short", "expires_in": "0s"}, headers=alice
    ).json()["secret"]
    # "0s" means no expiry; an expiry in the past is made through the store
    svc = auth_api.app.state.services.auth.auth
    from modelyard.auth import tokens

    found = svc.store.token_by_hash(tokens.digest(secret))
    assert found is not None and found[0].expires_at is None
    with svc.store.db.write() as conn:
        from sqlalchemy import update

        from modelyard.store.auth.tables import tokens as table

        conn.execute(update(table).values(expires_at=1))
    r = auth_api.get(
        f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert r.status_code == 401


def test_users_api_is_for_admins_and_self(auth_api, users) -> None:
    alice, bob = users("alice", "bob")
    assert auth_api.get(f"{API}/users/get", params={"username": "alice"}, headers=alice).json()["user"] == {
        "id": 2,
        "username": "alice",
        "is_admin": False,
    }
    assert auth_api.get(f"{API}/users/get", params={"username": "alice"}, headers=bob).status_code == 403
    r = auth_api.post(f"{API}/users/create", json={"username": "eve", "password": PASSWORD}, headers=alice)
    assert r.status_code == 403
    weak = auth_api.post(
        f"{API}/users/create", json={"username": "eve", "password": "password1"}, headers=ADMIN
    )
    assert weak.status_code == 400 and "at least 12" in weak.json()["message"]
    dup = auth_api.post(
        f"{API}/users/create", json={"username": "alice", "password": PASSWORD}, headers=ADMIN
    )
    assert dup.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    # changing one's own password needs the current one
    new = "another-long-password-5"
    r = auth_api.request(
        "PATCH", f"{API}/users/update-password", json={"username": "alice", "password": new}, headers=alice
    )
    assert r.status_code == 400 and "Current password" in r.json()["message"]
    r = auth_api.request(
        "PATCH",
        f"{API}/users/update-password",
        json={"username": "alice", "password": new, "current_password": PASSWORD},
        headers=alice,
    )
    assert r.status_code == 200
    assert (
        auth_api.get(f"{API}/users/current", headers=basic("alice", new)).json()["user"]["username"]
        == "alice"
    )
    assert (
        auth_api.request(
            "DELETE", f"{API}/users/delete", json={"username": "admin"}, headers=ADMIN
        ).status_code
        == 400
    )
    assert (
        auth_api.request("DELETE", f"{API}/users/delete", json={"username": "bob"}, headers=ADMIN).status_code
        == 200
    )
    assert auth_api.get(f"{API}/users/current", headers=bob).status_code == 401
