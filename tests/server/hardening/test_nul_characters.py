"""Defect class 1: a NUL character (``\\u0000``) in any string the API reads -- JSON bodies (names,
ids, keys, values, tags, filters, page tokens, nested fields), query parameters, path parameters,
the artifact proxy's and the UI's parameters -- is refused with 400 INVALID_PARAMETER_VALUE naming
the field, before anything is written, on SQLite, PostgreSQL and MariaDB alike (PostgreSQL cannot
store a NUL at all: it used to answer 500)."""

from __future__ import annotations

import pytest

API = "/api/2.0/mlflow"
NUL = "a\u0000b"

# (method, path, body or query, the field the error names); {run}, {exp} are filled in per test.
BODIES = [
    ("POST", "/experiments/create", {"name": NUL}, "name"),
    ("POST", "/experiments/create", {"name": "x{u}", "tags": [{"key": "k", "value": NUL}]}, "tags.0.value"),
    ("POST", "/experiments/create", {"name": "x{u}", "artifact_location": NUL}, "artifact_location"),
    ("POST", "/experiments/search", {"filter": f"name = '{NUL}'"}, "filter"),
    ("POST", "/experiments/search", {"page_token": NUL}, "page_token"),
    ("POST", "/runs/create", {"experiment_id": "{exp}", "run_name": NUL}, "run_name"),
    ("POST", "/runs/create", {"experiment_id": NUL}, "experiment_id"),
    ("POST", "/runs/set-tag", {"run_id": "{run}", "key": "k", "value": NUL}, "value"),
    ("POST", "/runs/set-tag", {"run_id": "{run}", "key": NUL, "value": "v"}, "key"),
    ("POST", "/runs/log-parameter", {"run_id": "{run}", "key": "p", "value": NUL}, "value"),
    ("POST", "/runs/log-metric", {"run_id": NUL, "key": "m", "value": 1.0, "timestamp": 1}, "run_id"),
    ("POST", "/runs/log-batch", {"run_id": "{run}", "metrics": [{"key": NUL, "value": 1, "timestamp": 1}]},
     "metrics.0.key"),
    ("POST", "/runs/log-batch", {"run_id": "{run}", "params": [{"key": "p", "value": NUL}]}, "params.0.value"),
    ("POST", "/runs/search", {"experiment_ids": ["{exp}"], "filter": f"params.p = '{NUL}'"}, "filter"),
    ("POST", "/runs/search", {"experiment_ids": ["{exp}"], "page_token": NUL}, "page_token"),
    ("POST", "/runs/search", {"experiment_ids": ["{exp}"], "order_by": [NUL]}, "order_by.0"),
    ("POST", "/registered-models/create", {"name": NUL}, "name"),
    ("POST", "/registered-models/create", {"name": "m{u}", "description": NUL}, "description"),
    ("POST", "/model-versions/create", {"name": "m", "source": NUL}, "source"),
    ("POST", "/logged-models", {"experiment_id": "{exp}", "name": NUL}, "name"),
    ("POST", "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": NUL}, "filter"),
    ("POST", "/runs/log-inputs", {"run_id": "{run}", "datasets": [{"dataset": {
        "name": "d", "digest": "x", "source_type": "local", "source": NUL}}]}, "datasets.0.dataset.source"),
]
QUERIES = [
    ("/runs/get", {"run_id": NUL}, "run_id"),
    ("/experiments/get", {"experiment_id": NUL}, "experiment_id"),
    ("/experiments/get-by-name", {"experiment_name": NUL}, "experiment_name"),
    ("/registered-models/get", {"name": NUL}, "name"),
    ("/registered-models/search", {"filter": f"name = '{NUL}'"}, "filter"),
    ("/registered-models/search", {"page_token": NUL}, "page_token"),
    ("/model-versions/search", {"filter": NUL}, "filter"),
    ("/metrics/get-history", {"run_id": "{run}", "metric_key": NUL}, "metric_key"),
    ("/artifacts/list", {"run_id": "{run}", "path": NUL}, "path"),
    ("/artifacts/list", {"run_id": "{run}", "page_token": NUL}, "page_token"),
    ("/experiments/search", {"unknown_parameter": NUL}, "unknown_parameter"),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def ids(db_api, hx, unique) -> dict:
    exp = hx.experiment(db_api, f"nul-{unique}")
    return {"exp": exp, "run": hx.run(db_api, exp), "u": unique}


def _counts(api) -> tuple[int, int, int]:
    """Experiments, registered models, and runs of every experiment: what a refused request must not change."""
    exps = api.post(f"{API}/experiments/search", json={"max_results": 50000, "view_type": "ALL"}).json()
    models = api.get(f"{API}/registered-models/search", params={"max_results": 1000}).json()
    ids = [e["experiment_id"] for e in exps.get("experiments", [])]
    runs = api.post(f"{API}/runs/search", json={"experiment_ids": ids, "max_results": 50000}).json()
    return len(exps.get("experiments", [])), len(models.get("registered_models", [])), len(runs.get("runs", []))


@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES, ids=[f"{b[1]}:{b[3]}" for b in BODIES])
def test_nul_in_a_json_body_is_refused_naming_the_field(db_api, hx, ids, method, path, body, field):
    before = _counts(db_api)
    r = db_api.request(method, API + path, json=_fill(body, ids))
    hx.assert_invalid(r, f"'{field}'", "NUL")
    assert _counts(db_api) == before


@pytest.mark.parametrize(("path", "params", "field"), QUERIES, ids=[f"{q[0]}:{q[2]}" for q in QUERIES])
def test_nul_in_a_query_parameter_is_refused_naming_it(db_api, hx, ids, path, params, field):
    r = db_api.get(API + path, params=_fill(params, ids))
    hx.assert_invalid(r, f"'{field}'", "NUL")


def test_nul_in_a_double_encoded_body_and_in_a_key(db_api, hx, ids):
    import json

    r = db_api.request(
        "POST", f"{API}/experiments/create",
        content=json.dumps(json.dumps({"name": NUL})), headers={"content-type": "application/json"},
    )
    hx.assert_invalid(r, "'name'", "NUL")
    r = db_api.post(f"{API}/runs/set-tag", json={"run_id": ids["run"], "key": "k", "value": "v", NUL: "x"})
    hx.assert_invalid(r, "NUL")


def test_an_escaped_backslash_before_u0000_is_not_a_nul(db_api, hx, unique):
    name = f"literal-\\u0000-{unique}"  # a backslash, then the text u0000: a legal name
    r = db_api.post(f"{API}/experiments/create", json={"name": name})
    assert r.status_code == 200, r.text
    got = db_api.get(f"{API}/experiments/get-by-name", params={"experiment_name": name})
    assert got.json()["experiment"]["name"] == name


def test_nul_in_path_parameters_is_refused(db_api, hx):
    r = db_api.get("/api/2.0/mlflow/logged-models/m-%00abc")
    hx.assert_invalid(r, "'model_id'", "NUL")
    r = db_api.request("DELETE", "/api/2.0/mlflow/logged-models/m-%00abc")
    hx.assert_invalid(r, "'model_id'", "NUL")


def test_nul_in_the_artifact_proxy_and_ui_parameters_is_refused(db_api, hx, ids):
    r = db_api.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": NUL})
    hx.assert_invalid(r, "NUL")
    r = db_api.request("PUT", "/api/2.0/mlflow-artifacts/artifacts/a%00b.txt", content=b"x")
    hx.assert_invalid(r)
    assert not any(p.is_file() for p in db_api.artifacts.rglob("*"))
    r = db_api.get("/get-artifact", params={"run_id": ids["run"], "path": NUL})
    assert r.status_code == 400 and "NUL" in r.text
    r = db_api.get(f"/experiments/{ids['exp']}", params={"filter": f"params.p = '{NUL}'"})
    assert r.status_code == 400 and "NUL" in r.text


def test_nul_in_the_embedded_client_is_refused_before_writing(tmp_path):
    from modelyard.exceptions import InvalidParameterValue
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(InvalidParameterValue, match="NUL"):
        client.create_experiment(NUL)
    exp = client.create_experiment("fine")
    run = client.create_run(exp)
    for call in (
        lambda: client.set_tag(run.info.run_id, "k", NUL),
        lambda: client.log_param(run.info.run_id, "p", NUL),
    ):
        with pytest.raises(InvalidParameterValue, match="NUL"):
            call()
    assert client.get_run(run.info.run_id).data.tags.get("k") is None
