"""Defect class 2: every search's page token is opaque, signed and bound to its query.

For each paged list of the API (runs, experiments, registered models, model versions, logged
models, metric history, run artifacts, webhooks, promotion history): following the tokens pages
through everything exactly once; a forged token (MLflow's readable ``{"offset": N}``, an absurd
offset, an edited payload, garbage, a token of another query) is 400 INVALID_PARAMETER_VALUE, on
SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import base64
import json

import pytest

API = "/api/2.0/mlflow"


def _b64(payload) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


FORGED = [
    _b64({"offset": 10**30}),  # was a 500
    _b64({"offset": 2}),  # MLflow's own format, readable and editable
    _b64({"offset": -5}),
    "garbage!",
    "x" * 5000,
    "eyJvZmZzZXQiOjJ9.AAAAAAAAAAAAAAAAAAAAAA",  # a well-formed token with a wrong signature
]


@pytest.fixture(scope="module")
def data(db_api, hx):
    """Three experiments (one run each, three metric points), three models with a version each, three
    logged models, all named with this module's tag."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    exps, runs = [], []
    for i in range(3):
        e = hx.experiment(db_api, f"pt-{tag}-{i}")
        exps.append(e)
        r = hx.run(db_api, e)
        runs.append(r)
        for step in range(3):
            db_api.post(f"{API}/runs/log-metric", json={"run_id": r, "key": "m", "value": step, "timestamp": 1, "step": step})
        assert db_api.post(f"{API}/logged-models", json={"experiment_id": exps[0], "name": f"lm{i}"}).status_code == 200
    for i in range(3):
        name = f"pt-{tag}-model-{i}"
        assert db_api.post(f"{API}/registered-models/create", json={"name": name}).status_code == 200
        src = f"runs:/{runs[i]}/model"
        r = db_api.post(f"{API}/model-versions/create", json={"name": name, "source": src, "run_id": runs[i]})
        assert r.status_code == 200, r.text
    return {"tag": tag, "exps": exps, "runs": runs}


def _searches(data):
    """(name, call(page_token, other_query: bool) -> response, key of the items)."""
    tag, exps, runs = data["tag"], data["exps"], data["runs"]

    def runs_search(api, token, other=False):
        return api.post(f"{API}/runs/search", json={
            "experiment_ids": exps[:2] if other else exps, "max_results": 1, "page_token": token})

    def experiments(api, token, other=False):
        flt = f"name LIKE 'pt-{tag}-%'" + (" AND name != 'x'" if other else "")
        return api.post(f"{API}/experiments/search", json={"filter": flt, "max_results": 1, "page_token": token})

    def models(api, token, other=False):
        flt = f"name LIKE 'pt-{tag}-model-%'" if not other else f"name LIKE 'pt-{tag}-%'"
        return api.get(f"{API}/registered-models/search", params={"filter": flt, "max_results": 1, **_t(token)})

    def versions(api, token, other=False):
        flt = f"name LIKE 'pt-{tag}-model-%'" if not other else f"name LIKE 'pt-{tag}-m%'"
        return api.get(f"{API}/model-versions/search", params={"filter": flt, "max_results": 1, **_t(token)})

    def logged(api, token, other=False):
        return api.post(f"{API}/logged-models/search", json={
            "experiment_ids": [exps[0]], "max_results": 1, "page_token": token,
            **({"filter": "name != 'x'"} if other else {})})

    def history(api, token, other=False):
        return api.get(f"{API}/metrics/get-history", params={
            "run_id": runs[1] if other else runs[0], "metric_key": "m", "max_results": 1, **_t(token)})

    return [
        ("runs", runs_search, "runs", 3),
        ("experiments", experiments, "experiments", 3),
        ("registered_models", models, "registered_models", 3),
        ("model_versions", versions, "model_versions", 3),
        ("logged_models", logged, "models", 3),
        ("metric_history", history, "metrics", 3),
    ]


def _t(token):
    return {"page_token": token} if token else {}


def test_tokens_page_through_every_search_exactly_once(db_api, data):
    for name, call, key, total in _searches(data):
        seen, token = [], None
        for _ in range(total + 2):
            r = call(db_api, token)
            assert r.status_code == 200, (name, r.text)
            body = r.json()
            seen += [json.dumps(item, sort_keys=True) for item in body.get(key, [])]
            token = body.get("next_page_token")
            if not token:
                break
            assert "offset" not in token and "." in token, (name, token)  # opaque and signed
        assert len(seen) == total == len(set(seen)), name


@pytest.mark.parametrize("forged", FORGED, ids=["absurd-offset", "mlflow-readable", "negative", "garbage", "long", "bad-mac"])
def test_forged_tokens_are_refused_by_every_search(db_api, data, hx, forged):
    for _name, call, _key, _total in _searches(data):
        r = call(db_api, forged)
        hx.assert_invalid(r, "page token")


def test_a_token_of_another_query_is_refused(db_api, data, hx):
    for name, call, _key, _total in _searches(data):
        token = call(db_api, None).json()["next_page_token"]
        hx.assert_invalid(call(db_api, token, other=True), "page token")
        assert call(db_api, token).status_code == 200, name


def test_an_edited_token_is_refused(db_api, data, hx):
    _name, call, _key, _total = _searches(data)[0]
    token = call(db_api, None).json()["next_page_token"]
    body, mac = token.split(".")
    edited = base64.urlsafe_b64encode(b'{"offset":2}').decode().rstrip("=")
    hx.assert_invalid(call(db_api, f"{edited}.{mac}"), "page token")


def test_artifact_list_and_webhook_tokens_are_checked(db_api, data, hx):
    run = data["runs"][0]
    for forged in FORGED:
        hx.assert_invalid(db_api.get(f"{API}/artifacts/list", params={"run_id": run, "page_token": forged}), "page token")
        hx.assert_invalid(db_api.get(f"{API}/webhooks", params={"page_token": forged}), "page token")
        model = f"pt-{data['tag']}-model-0"
        r = db_api.get(f"{API}/registered-models/history", params={"name": model, "page_token": forged})
        hx.assert_invalid(r, "page token")


def test_mlflow_client_pages_through_our_tokens(db_api, data):
    """The REST store (what the mlflow client does too) passes tokens through unchanged."""
    exps = data["exps"]
    body = {"experiment_ids": exps, "max_results": 2}
    first = db_api.post(f"{API}/runs/search", json=body).json()
    second = db_api.post(f"{API}/runs/search", json={**body, "page_token": first["next_page_token"]}).json()
    ids = {r["info"]["run_id"] for r in first["runs"] + second["runs"]}
    assert ids == set(data["runs"]) and "next_page_token" not in second
