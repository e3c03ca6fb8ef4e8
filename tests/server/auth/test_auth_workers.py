"""Two apps on one database, as two workers of one server: the sign-in rate limit counts across
them, and a revoked token, a changed password, a deleted user or a changed grant take effect in the
other worker at its next request, though both cache credentials for a minute here."""

from __future__ import annotations

from auth_helpers import ADMIN, API, PASSWORD, basic, bearer  # type: ignore[import-not-found]

TOKENS = "/api/2.0/modelyard/tokens"
NEW_PASSWORD = "another-long-password-4"


def _two_workers(make_auth_api, **overrides):
    first = make_auth_api(**overrides)
    second = make_auth_api(**overrides)
    r = first.post(f"{API}/users/create", json={"username": "alice", "password": PASSWORD}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return first, second


def test_failed_sign_ins_are_counted_across_workers(make_auth_api) -> None:
    first, second = _two_workers(make_auth_api, max_failed_signins=3)
    wrong = basic("alice", "wrong-password-123")
    assert first.get(f"{API}/users/current", headers=wrong).status_code == 401
    assert second.get(f"{API}/users/current", headers=wrong).status_code == 401
    assert first.get(f"{API}/users/current", headers=wrong).status_code == 401
    # three failures in all, spread over both workers: either refuses the right password now
    for worker in (first, second):
        assert worker.get(f"{API}/users/current", headers=basic("alice")).status_code == 401
    # the address is counted too: another user signing in from it for the first time is refused
    assert second.get(f"{API}/users/current", headers=ADMIN).status_code == 401


def test_a_revoked_token_stops_working_in_every_worker_at_once(make_auth_api) -> None:
    first, second = _two_workers(make_auth_api)
    made = first.post(f"{TOKENS}/create", json={"name": "ci"}, headers=basic("alice")).json()
    token = bearer(made["secret"])
    for worker in (first, second):  # both have it cached now
        assert worker.get(f"{API}/users/current", headers=token).json()["user"]["username"] == "alice"
    assert first.post(f"{TOKENS}/revoke", json={"token_id": str(made["token"]["id"])}, headers=basic("alice")).status_code == 200
    for worker in (second, first):
        assert worker.get(f"{API}/users/current", headers=token).status_code == 401


def test_a_new_password_and_a_deleted_user_take_effect_in_every_worker(make_auth_api) -> None:
    first, second = _two_workers(make_auth_api)
    old = basic("alice")
    assert second.get(f"{API}/users/current", headers=old).status_code == 200  # cached in the second
    body = {"username": "alice", "password": NEW_PASSWORD}
    assert first.request("PATCH", f"{API}/users/update-password", json=body, headers=ADMIN).status_code == 200
    assert second.get(f"{API}/users/current", headers=old).status_code == 401
    new = basic("alice", NEW_PASSWORD)
    assert second.get(f"{API}/users/current", headers=new).status_code == 200
    assert first.request("DELETE", f"{API}/users/delete", json={"username": "alice"}, headers=ADMIN).status_code == 200
    assert second.get(f"{API}/users/current", headers=new).status_code == 401


def test_a_changed_grant_and_a_created_resource_are_seen_by_every_worker(make_auth_api) -> None:
    first, second = _two_workers(make_auth_api, default_permission="NO_PERMISSIONS")
    alice = basic("alice")
    exp = first.post(f"{API}/experiments/create", json={"name": "shared"}, headers=ADMIN).json()["experiment_id"]
    get = {"params": {"experiment_id": exp}, "headers": alice}
    assert second.get(f"{API}/experiments/get", **get).status_code == 403  # her grants cached there
    body = {"experiment_id": exp, "username": "alice", "permission": "READ"}
    assert first.post(f"{API}/experiments/permissions/create", json=body, headers=ADMIN).status_code == 200
    assert second.get(f"{API}/experiments/get", **get).status_code == 200
    # what alice creates through one worker is hers in the other at once (creators own)
    mine = first.post(f"{API}/experiments/create", json={"name": "hers"}, headers=alice).json()["experiment_id"]
    run = second.post(f"{API}/runs/create", json={"experiment_id": mine}, headers=alice)
    assert run.status_code == 200, run.text
