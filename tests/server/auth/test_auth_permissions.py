"""Authorization: READ < USE < EDIT < MANAGE and NO_PERMISSIONS per experiment and registered
model, admins bypass, creators own, deny by default, and searches that show only what one may read."""

from __future__ import annotations

import pytest
from auth_helpers import ADMIN, API  # type: ignore[import-not-found]

GRANTS = {
    "experiment": ("/experiments/permissions", "experiment_id"),
    "registered_model": ("/registered-models/permissions", "name"),
}


def grant(api, kind: str, resource: str, user: str, permission: str) -> None:
    path, field = GRANTS[kind]
    body = {field: resource, "username": user, "permission": permission}
    r = api.post(f"{API}{path}/create", json=body, headers=ADMIN)
    if r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS":
        r = api.request("PATCH", f"{API}{path}/update", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text


def model_with_version(api, name: str) -> None:
    run = api.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers=ADMIN).json()["run"]["info"][
        "run_id"
    ]
    assert api.post(f"{API}/registered-models/create", json={"name": name}, headers=ADMIN).status_code == 200
    created = api.post(
        f"{API}/model-versions/create", json={"name": name, "source": f"runs:/{run}/model", "run_id": run}, headers=ADMIN
    )
    assert created.status_code == 200, created.text


def experiment_with_run(api) -> tuple[str, str]:
    exp = api.post(f"{API}/experiments/create", json={"name": "secret-exp"}, headers=ADMIN).json()[
        "experiment_id"
    ]
    run = api.post(f"{API}/runs/create", json={"experiment_id": exp}, headers=ADMIN).json()["run"]["info"][
        "run_id"
    ]
    return exp, run


# (what, method, path, body or params, the least permission that allows it)
def _experiment_calls(exp: str, run: str):
    return [
        ("get experiment", "GET", "/experiments/get", {"experiment_id": exp}, "READ"),
        ("get it by name", "GET", "/experiments/get-by-name", {"experiment_name": "secret-exp"}, "READ"),
        ("list artifacts", "GET", "/artifacts/list", {"run_id": run}, "READ"),
        ("get run", "GET", "/runs/get", {"run_id": run}, "READ"),
        ("search runs", "POST", "/runs/search", {"experiment_ids": [exp]}, "READ"),
        (
            "log metric",
            "POST",
            "/runs/log-metric",
            {"run_id": run, "key": "m", "value": 1, "timestamp": 1},
            "EDIT",
        ),
        ("create run", "POST", "/runs/create", {"experiment_id": exp}, "EDIT"),
        (
            "rename experiment",
            "POST",
            "/experiments/update",
            {"experiment_id": exp, "new_name": "renamed"},
            "EDIT",
        ),
        ("delete run", "POST", "/runs/delete", {"run_id": run}, "MANAGE"),
    ]


LEVELS = ["NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"]


@pytest.mark.parametrize("level", LEVELS)
def test_each_experiment_permission_allows_exactly_its_actions(auth_api, users, level: str) -> None:
    (alice,) = users("alice")
    exp, run = experiment_with_run(auth_api)
    grant(auth_api, "experiment", exp, "alice", level)
    for what, method, path, data, least in _experiment_calls(exp, run):
        kwargs = {"params": data} if method == "GET" else {"json": data}
        r = auth_api.request(method, f"{API}{path}", headers=alice, **kwargs)
        allowed = LEVELS.index(level) >= LEVELS.index(least)
        assert (r.status_code == 200) == allowed, (what, level, r.status_code, r.text)
        if not allowed:
            assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("level", LEVELS)
def test_each_model_permission_allows_exactly_its_actions(auth_api, users, level: str) -> None:
    (alice,) = users("alice")
    model_with_version(auth_api, "m1")
    grant(auth_api, "registered_model", "m1", "alice", level)
    calls = [
        ("get model", "GET", "/registered-models/get", {"name": "m1"}, "READ"),
        ("get version", "GET", "/model-versions/get", {"name": "m1", "version": "1"}, "READ"),
        ("tag model", "POST", "/registered-models/set-tag", {"name": "m1", "key": "k", "value": "v"}, "EDIT"),
        (
            "set alias",
            "POST",
            "/registered-models/alias",
            {"name": "m1", "alias": "prod", "version": "1"},
            "MANAGE",
        ),
        ("delete version", "DELETE", "/model-versions/delete", {"name": "m1", "version": "1"}, "MANAGE"),
    ]
    for what, method, path, data, least in calls:
        kwargs = {"params": data} if method == "GET" else {"json": data}
        r = auth_api.request(method, f"{API}{path}", headers=alice, **kwargs)
        allowed = LEVELS.index(level) >= LEVELS.index(least)
        assert (r.status_code == 200) == allowed, (what, level, r.status_code, r.text)


def test_default_permission_no_permissions_hides_everything_not_granted(make_auth_api) -> None:
    api = make_auth_api(default_permission="NO_PERMISSIONS")
    api.post(
        f"{API}/users/create", json={"username": "alice", "password": "a-long-user-password-9"}, headers=ADMIN
    )
    from auth_helpers import basic  # type: ignore[import-not-found]

    alice = basic("alice")
    exp, run = experiment_with_run(api)
    assert api.get(f"{API}/runs/get", params={"run_id": run}, headers=alice).status_code == 403
    mine = api.post(f"{API}/experiments/create", json={"name": "alice-exp"}, headers=alice).json()[
        "experiment_id"
    ]
    # the creator gets MANAGE on what they create
    run2 = api.post(f"{API}/runs/create", json={"experiment_id": mine}, headers=alice).json()["run"]["info"][
        "run_id"
    ]
    assert api.post(f"{API}/runs/delete", json={"run_id": run2}, headers=alice).status_code == 200
    found = api.post(f"{API}/experiments/search", json={"max_results": 10}, headers=alice).json()[
        "experiments"
    ]
    assert [e["name"] for e in found] == ["alice-exp"]
    everything = api.post(f"{API}/experiments/search", json={"max_results": 10}, headers=ADMIN).json()[
        "experiments"
    ]
    assert {e["name"] for e in everything} == {"alice-exp", "secret-exp", "Default"}


def test_searches_return_only_readable_models_and_versions(auth_api, users) -> None:
    (alice,) = users("alice")
    for name in ("open", "hidden"):
        model_with_version(auth_api, name)
    grant(auth_api, "registered_model", "hidden", "alice", "NO_PERMISSIONS")
    models = auth_api.get(f"{API}/registered-models/search", headers=alice).json()["registered_models"]
    assert [m["name"] for m in models] == ["open"]
    versions = auth_api.get(f"{API}/model-versions/search", headers=alice).json()["model_versions"]
    assert [v["name"] for v in versions] == ["open"]
    # one page at a time: the page token still leads on past what was filtered out
    page = auth_api.get(f"{API}/registered-models/search", params={"max_results": 1}, headers=alice).json()
    names = [m["name"] for m in page.get("registered_models", [])]
    while page.get("next_page_token"):
        page = auth_api.get(
            f"{API}/registered-models/search",
            params={"max_results": 1, "page_token": page["next_page_token"]},
            headers=alice,
        ).json()
        names += [m["name"] for m in page.get("registered_models", [])]
    assert names == ["open"]


def test_artifacts_follow_their_experiment_and_delete_needs_manage(auth_api, users) -> None:
    (alice,) = users("alice")
    exp, _run = experiment_with_run(auth_api)
    url = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/r/file.txt"
    assert auth_api.request("PUT", url, content=b"data", headers=ADMIN).status_code == 200
    grant(auth_api, "experiment", exp, "alice", "NO_PERMISSIONS")
    assert auth_api.get(url, headers=alice).status_code == 403
    grant(auth_api, "experiment", exp, "alice", "READ")
    assert auth_api.get(url, headers=alice).content == b"data"
    assert auth_api.request("PUT", url, content=b"x", headers=alice).status_code == 403
    grant(auth_api, "experiment", exp, "alice", "EDIT")
    assert auth_api.request("PUT", url, content=b"x", headers=alice).status_code == 200
    assert auth_api.request("DELETE", url, headers=alice).status_code == 403  # CVE-2024-4263
    grant(auth_api, "experiment", exp, "alice", "MANAGE")
    assert auth_api.request("DELETE", url, headers=alice).status_code == 200
    # the store's root lists every experiment's folder: admins only
    root = auth_api.get("/api/2.0/mlflow-artifacts/artifacts", headers=alice)
    assert root.status_code == 403


def test_permissions_can_be_managed_by_managers_only(auth_api, users) -> None:
    alice, bob = users("alice", "bob")
    exp = auth_api.post(f"{API}/experiments/create", json={"name": "alice-owned"}, headers=alice).json()[
        "experiment_id"
    ]
    body = {"experiment_id": exp, "username": "bob", "permission": "READ"}
    assert auth_api.post(f"{API}/experiments/permissions/create", json=body, headers=bob).status_code == 403
    r = auth_api.post(f"{API}/experiments/permissions/create", json=body, headers=alice)
    assert r.status_code == 200
    assert r.json()["experiment_permission"] == {"experiment_id": exp, "user_id": 3, "permission": "READ"}
    got = auth_api.get(
        f"{API}/experiments/permissions/get", params={"experiment_id": exp, "username": "bob"}, headers=alice
    )
    assert got.json()["experiment_permission"]["permission"] == "READ"
    bad = auth_api.post(
        f"{API}/experiments/permissions/create", json={**body, "username": "carol"}, headers=alice
    )
    assert bad.status_code == 404
    wrong = auth_api.request(
        "PATCH", f"{API}/experiments/permissions/update", json={**body, "permission": "OWNER"}, headers=alice
    )
    assert wrong.status_code == 400 and "permission" in wrong.json()["message"]


def test_webhooks_audit_and_user_admin_are_for_admins(auth_api, users) -> None:
    (alice,) = users("alice")
    assert auth_api.get("/api/2.0/mlflow/webhooks", headers=alice).status_code == 403
    assert auth_api.get("/api/2.0/modelyard/audit/list", headers=alice).status_code == 403
    assert auth_api.get(f"{API}/users/list", headers=alice).status_code == 403
    assert auth_api.get(f"{API}/users/list", headers=ADMIN).status_code == 200


def test_promotion_history_records_the_authenticated_user_never_a_claim(auth_api, users) -> None:
    (alice,) = users("alice")
    model_with_version(auth_api, "churn")
    grant(auth_api, "registered_model", "churn", "alice", "MANAGE")
    claims = {**alice, "X-Modelyard-User": "mallory"}
    auth_api.post(
        f"{API}/registered-models/alias",
        json={"name": "churn", "alias": "champion", "version": "1"},
        headers=claims,
    )
    auth_api.post(
        f"{API}/model-versions/transition-stage",
        json={"name": "churn", "version": "1", "stage": "Production", "user_id": "mallory"},
        headers=claims,
    )
    events = auth_api.get(f"{API}/registered-models/history", params={"name": "churn"}, headers=alice).json()[
        "events"
    ]
    assert [(e["kind"], e["user_id"]) for e in events] == [("stage", "alice"), ("alias", "alice")]
    exp = auth_api.post(f"{API}/experiments/create", json={"name": "alice-runs"}, headers=alice).json()[
        "experiment_id"
    ]
    run = auth_api.post(
        f"{API}/runs/create", json={"experiment_id": exp, "user_id": "mallory"}, headers=claims
    )
    assert run.json()["run"]["info"]["user_id"] == "alice"
