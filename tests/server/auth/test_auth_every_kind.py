"""Every resource kind of ``auth/permissions.py`` against every permission level: for each kind, a
user granted NO_PERMISSIONS, READ, USE, EDIT, then MANAGE (on the experiment, model, feature table
or job the resource belongs to) may do exactly what that level allows; admin-only kinds stay
refused at every level; a test fails when a kind is added without a row here."""

from __future__ import annotations

import pytest
from auth_helpers import ADMIN, API, basic  # type: ignore[import-not-found]
from test_auth_features_jobs import create_table, deploy  # type: ignore[import-not-found]
from test_auth_permissions import LEVELS, experiment_with_run, model_with_version  # type: ignore[import-not-found]

from modelyard.auth import permissions as p

MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
GRANT3 = "/api/3.0/mlflow/users/permissions"
ADMIN_ONLY = "ADMIN"  # refused to everyone but admins, whatever they were granted
SIGNED_IN = "SIGNED_IN"  # anyone who signed in
ANYONE = "ANYONE"  # no credentials needed


def _setup(api) -> dict:
    """One of everything, made by the admin; what the calls below name."""
    exp, run = experiment_with_run(api)
    model = api.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "lm"}, headers=ADMIN)
    assert model.status_code == 200, model.text
    assert api.request("PUT", f"{MLFLOW_ARTIFACTS}/{exp}/{run}/artifacts/f.txt", content=b"x", headers=ADMIN).status_code == 200
    model_with_version(api, "m1")
    assert create_table(api, "ft").status_code == 200
    assert deploy(api, "job1").status_code == 200
    return {"exp": exp, "run": run, "model_id": model.json()["model"]["info"]["model_id"]}


def _calls(ids: dict) -> dict[str, tuple[str | None, str | None, list]]:
    """kind -> (grant kind, grant id, [(what, method, path, data, least)])."""
    exp, run, model_id = ids["exp"], ids["run"], ids["model_id"]
    return {
        p.PUBLIC: (None, None, [("health", "GET", "/health", None, ANYONE)]),
        p.SERVER: (None, None, [("server info", "GET", "/api/3.0/mlflow/server-info", None, SIGNED_IN)]),
        p.EXPERIMENT: ("experiment", exp, [
            ("get", "GET", f"{API}/experiments/get", {"experiment_id": exp}, "READ"),
            ("set tag", "POST", f"{API}/experiments/set-experiment-tag", {"experiment_id": exp, "key": "k", "value": "v"}, "EDIT"),
        ]),
        p.RUN: ("experiment", exp, [
            ("get", "GET", f"{API}/runs/get", {"run_id": run}, "READ"),
            ("log param", "POST", f"{API}/runs/log-parameter", {"run_id": run, "key": "k", "value": "v"}, "EDIT"),
        ]),
        p.LOGGED_MODEL: ("experiment", exp, [
            ("get", "GET", f"{API}/logged-models/{model_id}", None, "READ"),
            ("set tag", "PATCH", f"{API}/logged-models/{model_id}/tags", {"tags": [{"key": "k", "value": "v"}]}, "EDIT"),
        ]),
        p.ARTIFACT: ("experiment", exp, [
            ("download", "GET", f"{MLFLOW_ARTIFACTS}/{exp}/{run}/artifacts/f.txt", None, "READ"),
            ("upload", "PUT", f"{MLFLOW_ARTIFACTS}/{exp}/{run}/artifacts/g.txt", b"y", "EDIT"),
        ]),
        p.REGISTERED_MODEL: ("registered_model", "m1", [
            ("get", "GET", f"{API}/registered-models/get", {"name": "m1"}, "READ"),
            ("set tag", "POST", f"{API}/registered-models/set-tag", {"name": "m1", "key": "k", "value": "v"}, "EDIT"),
        ]),
        p.MODEL_VERSION: ("registered_model", "m1", [
            ("get", "GET", f"{API}/model-versions/get", {"name": "m1", "version": "1"}, "READ"),
            ("set tag", "POST", f"{API}/model-versions/set-tag", {"name": "m1", "version": "1", "key": "k", "value": "v"}, "EDIT"),
        ]),
        p.WEBHOOK: ("registered_model", "m1", [("list", "GET", f"{API}/webhooks", None, ADMIN_ONLY)]),
        p.FEATURE_TABLE: ("feature_table", "ft", [
            ("get", "GET", "/api/2.0/modelyard/feature-tables/get", {"name": "ft"}, "READ"),
            ("set tag", "POST", "/api/2.0/modelyard/feature-tables/set-tag", {"name": "ft", "key": "k", "value": "v"}, "EDIT"),
        ]),
        p.JOB: ("job", "job1", [
            ("get", "GET", "/api/2.0/modelyard/jobs/get", {"name": "job1"}, "READ"),
            ("run now", "POST", "/api/2.0/modelyard/jobs/run", {"name": "job1"}, "USE"),
            ("pause", "POST", "/api/2.0/modelyard/jobs/pause", {"name": "job1"}, "EDIT"),
        ]),
        p.USER: ("experiment", exp, [
            ("get herself", "GET", f"{API}/users/get", {"username": "alice"}, SIGNED_IN),
            ("get another", "GET", f"{API}/users/get", {"username": "admin"}, ADMIN_ONLY),
        ]),
        p.AUDIT: ("experiment", exp, [("list", "GET", "/api/2.0/modelyard/audit/list", None, ADMIN_ONLY)]),
        p.GRANT: ("experiment", exp, [
            ("read the grants", "GET", f"{GRANT3}/get", {"username": "alice", "resource_type": "experiment", "resource_id": exp}, "MANAGE"),
        ]),
        # the scoring server's kind: tests/serving/test_scoring_auth.py (a token needs USE to score)
        # and test_scoring_kind_follows_the_registered_models_level below
        p.SCORING: ("registered_model", "m1", []),
    }


def _send(api, method: str, path: str, data, headers):
    if isinstance(data, bytes):
        return api.request(method, path, content=data, headers=headers)
    kwargs = {"params": data} if method == "GET" else {"json": data} if data is not None else {}
    return api.request(method, path, headers=headers, **kwargs)


def _grant(api, kind: str, resource: str, level: str) -> None:
    body = {"resource_type": kind, "resource_id": resource, "username": "alice", "permission": level}
    assert api.post(f"{GRANT3}/grant", json=body, headers=ADMIN).status_code == 200


def declared_kinds() -> set[str]:
    return {v for k, v in vars(p).items() if k.isupper() and isinstance(v, str)} - set(p.ACTIONS)


def test_every_declared_kind_has_a_row() -> None:
    assert set(_calls({"exp": "1", "run": "r", "model_id": "m"})) == declared_kinds()


@pytest.mark.parametrize("kind", sorted(declared_kinds() - {p.SCORING}))
def test_every_level_against_every_kind(auth_api, users, kind: str) -> None:
    (alice,) = users("alice")
    grant_kind, grant_id, calls = _calls(_setup(auth_api))[kind]
    assert calls
    for level in LEVELS:
        if grant_kind is not None:
            _grant(auth_api, grant_kind, grant_id, level)
        for what, method, path, data, least in calls:
            r = _send(auth_api, method, path, data, alice)
            if least in (ANYONE, SIGNED_IN):
                allowed = True
            elif least == ADMIN_ONLY:
                allowed = False
            else:
                allowed = LEVELS.index(level) >= LEVELS.index(least)
            assert (r.status_code == 200) == allowed, (kind, what, level, r.status_code, r.text)
            if not allowed:
                assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    for what, method, path, data, least in calls:
        # admins bypass; nobody without credentials gets in but on public routes
        assert _send(auth_api, method, path, data, ADMIN).status_code == 200, (kind, what)
        anonymous = _send(auth_api, method, path, data, {})
        assert (anonymous.status_code == 200) if least == ANYONE else (anonymous.status_code == 401), (kind, what)


def test_scoring_kind_follows_the_registered_models_level(auth_api, users, tmp_path) -> None:
    """A scoring server reading this server's auth store: GET routes need READ on the served model,
    scoring needs USE."""
    from modelyard.serving.auth import StoreTokens

    users("alice")
    model_with_version(auth_api, "m1")
    made = auth_api.post("/api/2.0/modelyard/tokens/create", json={"name": "s", "scopes": "models:use"}, headers=basic("alice"))
    secret = made.json()["secret"]
    store = StoreTokens(f"sqlite:///{tmp_path / 'server.db'}", ["m1"])
    try:
        for level in LEVELS:
            _grant(auth_api, "registered_model", "m1", level)
            assert bool(store.allows(secret, "GET")) == (level != "NO_PERMISSIONS"), level
            assert bool(store.allows(secret, "POST")) == (level in ("USE", "EDIT", "MANAGE")), level
    finally:
        store.close()
