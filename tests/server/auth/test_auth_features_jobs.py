"""Feature tables and jobs with authentication on: every level (NO_PERMISSIONS < READ < USE < EDIT <
MANAGE) against each one's routes, lists and searches that show only what one may read, creators
own what they create, admins bypass."""

from __future__ import annotations

import pytest
from auth_helpers import ADMIN, API, basic  # type: ignore[import-not-found]
from test_auth_permissions import LEVELS  # type: ignore[import-not-found]

FT = "/api/2.0/modelyard/feature-tables"
JOBS = "/api/2.0/modelyard/jobs"
GRANTS = "/api/3.0/mlflow/users/permissions"  # modelyard's grants for any kind: feature_table, job


def grant(api, kind: str, resource: str, user: str, level: str) -> None:
    body = {"resource_type": kind, "resource_id": resource, "username": user, "permission": level}
    r = api.post(f"{GRANTS}/grant", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text


def create_table(api, name: str, headers=ADMIN):
    body = {
        "name": name,
        "primary_keys": ["id"],
        "columns": [{"name": "id", "dtype": "int64"}, {"name": "x", "dtype": "double"}],
        "location": f"/tmp/nowhere/{name}",
    }
    return api.post(f"{FT}/create", json=body, headers=headers)


def job_definition(name: str, on_event: str | None = None) -> dict:
    spec: dict = {"name": name, "tasks": [{"key": "t", "run": "json:dumps"}]}
    if on_event:
        spec["triggers"] = [{"on": "event", "kind": on_event}]
    return spec


def deploy(api, name: str, headers=ADMIN, on_event: str | None = None):
    return api.post(f"{JOBS}/deploy", json={"definition": job_definition(name, on_event)}, headers=headers)


def check_calls(api, headers, level: str, calls) -> None:
    for what, method, path, data, least in calls:
        kwargs = {"params": data} if method == "GET" else {"json": data}
        r = api.request(method, path, headers=headers, **kwargs)
        allowed = LEVELS.index(level) >= LEVELS.index(least)
        # allowed: done, or the handler's own answer (a job run with no task run yet has no log)
        assert (r.status_code != 403) == allowed, (what, level, r.status_code, r.text)
        assert r.status_code in ((200, 404) if allowed else (403,)), (what, level, r.status_code, r.text)
        if not allowed:
            assert r.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("level", LEVELS)
def test_each_feature_table_permission_allows_exactly_its_actions(auth_api, users, level: str) -> None:
    (alice,) = users("alice")
    assert create_table(auth_api, "fraud").status_code == 200
    grant(auth_api, "feature_table", "fraud", "alice", level)
    calls = [
        ("get", "GET", f"{FT}/get", {"name": "fraud"}, "READ"),
        ("history", "GET", f"{FT}/history", {"name": "fraud"}, "READ"),
        ("set tag", "POST", f"{FT}/set-tag", {"name": "fraud", "key": "k", "value": "v"}, "EDIT"),
        ("update", "POST", f"{FT}/update", {"name": "fraud", "description": "d"}, "EDIT"),
        ("record publish", "POST", f"{FT}/record-publish", {"name": "fraud", "online_store": "r", "version": 0}, "EDIT"),
        ("delete tag", "DELETE", f"{FT}/delete-tag", {"name": "fraud", "key": "k"}, "EDIT"),
        ("delete", "DELETE", f"{FT}/delete", {"name": "fraud"}, "MANAGE"),
    ]
    check_calls(auth_api, alice, level, calls)
    found = auth_api.get(f"{FT}/search", headers=alice).json().get("feature_tables", [])
    visible = [t["name"] for t in found]
    if level == "MANAGE":
        assert visible == []  # deleted by alice above, and its grants with it
    else:
        assert visible == (["fraud"] if level != "NO_PERMISSIONS" else [])


def test_feature_tables_creators_own_and_searches_hide(make_auth_api) -> None:
    api = make_auth_api(default_permission="NO_PERMISSIONS")
    for name in ("alice", "bob"):
        r = api.post(f"{API}/users/create", json={"username": name, "password": "a-long-user-password-9"}, headers=ADMIN)
        assert r.status_code == 200
    alice, bob = basic("alice"), basic("bob")
    assert create_table(api, "admins_table").status_code == 200
    assert create_table(api, "alices_table", headers=alice).status_code == 200
    # alice owns hers (MANAGE): she may tag and delete it; bob sees neither table, by name or search
    assert api.post(f"{FT}/set-tag", json={"name": "alices_table", "key": "k", "value": "v"}, headers=alice).status_code == 200
    assert api.get(f"{FT}/get", params={"name": "alices_table"}, headers=bob).status_code == 403
    assert api.get(f"{FT}/get", params={"name": "admins_table"}, headers=alice).status_code == 403
    assert [t["name"] for t in api.get(f"{FT}/search", headers=alice).json()["feature_tables"]] == ["alices_table"]
    assert api.get(f"{FT}/search", headers=bob).json().get("feature_tables", []) == []
    everything = api.get(f"{FT}/search", headers=ADMIN).json()["feature_tables"]
    assert {t["name"] for t in everything} == {"admins_table", "alices_table"}
    # a name already taken by a table one may not read is refused, not overwritten
    taken = create_table(api, "admins_table", headers=bob)
    assert taken.status_code == 400 and taken.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert api.get(f"{FT}/get", params={"name": "admins_table"}, headers=bob).status_code == 403
    # deleting drops the grants: a new table of that name is not alice's
    assert api.request("DELETE", f"{FT}/delete", json={"name": "alices_table"}, headers=alice).status_code == 200
    assert create_table(api, "alices_table").status_code == 200
    assert api.get(f"{FT}/get", params={"name": "alices_table"}, headers=alice).status_code == 403
    # a read-only token of the admin may read but not create
    token = api.post("/api/2.0/modelyard/tokens/create", json={"name": "ro", "scopes": "feature_tables:read"}, headers=ADMIN)
    ro = {"Authorization": f"Bearer {token.json()['secret']}"}
    assert api.get(f"{FT}/get", params={"name": "admins_table"}, headers=ro).status_code == 200
    assert create_table(api, "by_token", headers=ro).status_code == 403


@pytest.mark.parametrize("level", LEVELS)
def test_each_job_permission_allows_exactly_its_actions(auth_api, users, level: str) -> None:
    (alice,) = users("alice")
    assert deploy(auth_api, "nightly").status_code == 200
    run_id = auth_api.post(f"{JOBS}/run", json={"name": "nightly"}, headers=ADMIN).json()["run"]["job_run_id"]
    grant(auth_api, "job", "nightly", "alice", level)
    calls = [
        ("get", "GET", f"{JOBS}/get", {"name": "nightly"}, "READ"),
        ("list its runs", "GET", f"{JOBS}/runs/list", {"name": "nightly"}, "READ"),
        ("get a run", "GET", f"{JOBS}/runs/get", {"job_run_id": run_id}, "READ"),
        ("logs", "GET", f"{JOBS}/runs/logs", {"job_run_id": run_id}, "READ"),
        ("run now", "POST", f"{JOBS}/run", {"name": "nightly"}, "USE"),
        ("cancel", "POST", f"{JOBS}/runs/cancel", {"job_run_id": run_id}, "USE"),
        ("pause", "POST", f"{JOBS}/pause", {"name": "nightly"}, "EDIT"),
        ("resume", "POST", f"{JOBS}/resume", {"name": "nightly"}, "EDIT"),
        ("redeploy", "POST", f"{JOBS}/deploy", {"definition": job_definition("nightly")}, "EDIT"),
        ("delete", "POST", f"{JOBS}/delete", {"name": "nightly"}, "MANAGE"),
    ]
    check_calls(auth_api, alice, level, calls)
    jobs = [j["name"] for j in auth_api.get(f"{JOBS}/list", headers=alice).json()["jobs"]]
    runs = auth_api.get(f"{JOBS}/runs/list", headers=alice).json()["runs"]
    if level in ("NO_PERMISSIONS", "MANAGE"):  # hidden, or deleted by alice above
        assert jobs == [] and runs == []
    else:
        assert jobs == ["nightly"] and {r["job_name"] for r in runs} == {"nightly"}


def test_jobs_creators_own_lists_hide_and_events_start_only_usable_jobs(make_auth_api) -> None:
    api = make_auth_api(default_permission="NO_PERMISSIONS")
    for name in ("alice", "bob"):
        r = api.post(f"{API}/users/create", json={"username": name, "password": "a-long-user-password-9"}, headers=ADMIN)
        assert r.status_code == 200
    alice, bob = basic("alice"), basic("bob")
    assert deploy(api, "admins_job", on_event="landed").status_code == 200
    assert deploy(api, "alices_job", headers=alice, on_event="landed").json()["created"] is True
    # the job's id names it too
    job_id = api.get(f"{JOBS}/get", params={"name": "alices_job"}, headers=alice).json()["job"]["job_id"]
    assert api.get(f"{JOBS}/get", params={"name": job_id}, headers=bob).status_code == 403
    assert api.post(f"{JOBS}/pause", json={"name": job_id}, headers=alice).status_code == 200
    assert api.post(f"{JOBS}/resume", json={"name": "alices_job"}, headers=alice).status_code == 200
    # bob may neither redeploy (overwrite) alice's job nor see it
    assert deploy(api, "alices_job", headers=bob).status_code == 403
    assert api.get(f"{JOBS}/list", headers=bob).json()["jobs"] == []
    assert [j["name"] for j in api.get(f"{JOBS}/list", headers=alice).json()["jobs"]] == ["alices_job"]
    # an event starts only the jobs its publisher may USE
    started = api.post(f"{JOBS}/events/publish", json={"kind": "landed", "key": "k1"}, headers=alice).json()
    assert len(started["job_run_ids"]) == 1
    run = api.get(f"{JOBS}/runs/get", params={"job_run_id": started["job_run_ids"][0]}, headers=alice).json()
    assert run["run"]["job_name"] == "alices_job"
    assert api.post(f"{JOBS}/events/publish", json={"kind": "landed", "key": "k2"}, headers=bob).json()["job_run_ids"] == []
    assert len(api.post(f"{JOBS}/events/publish", json={"kind": "landed", "key": "k3"}, headers=ADMIN).json()["job_run_ids"]) == 2
    assert {r["job_name"] for r in api.get(f"{JOBS}/runs/list", headers=alice).json()["runs"]} == {"alices_job"}
    # admins bypass: every job, every run
    assert {j["name"] for j in api.get(f"{JOBS}/list", headers=ADMIN).json()["jobs"]} == {"admins_job", "alices_job"}
    assert api.post(f"{JOBS}/delete", json={"name": "alices_job"}, headers=ADMIN).status_code == 200
