"""The registry endpoints in-process: MLflow's wire shapes, status codes and limits, modelyard's
extra endpoints (history, lineage, resolve, registrations), and what a hostile client may send."""

from __future__ import annotations

import pytest

API = "/api/2.0/mlflow"


@pytest.fixture
def run_id(api) -> str:
    response = api.post(f"{API}/runs/create", json={"experiment_id": "0", "run_name": "train"})
    return response.json()["run"]["info"]["run_id"]


@pytest.fixture
def churn(api, run_id) -> str:
    """Model 'churn' with versions 1 and 2 from the run."""
    assert api.post(f"{API}/registered-models/create", json={"name": "churn"}).status_code == 200
    for _ in range(2):
        response = api.post(f"{API}/model-versions/create", json={"name": "churn", "source": f"runs:/{run_id}/model", "run_id": run_id})
        assert response.status_code == 200, response.text
    return run_id


def _delete(api, path: str, body: dict, **kwargs):
    return api.request("DELETE", path, json=body, **kwargs)


def test_create_model_wire_shape_and_duplicate(api):
    body = {"name": "churn", "tags": [{"key": "team", "value": "growth"}], "description": "d"}
    created = api.post(f"{API}/registered-models/create", json=body, headers={"X-Modelyard-User": "ada"})
    assert created.status_code == 200
    model = created.json()["registered_model"]
    assert set(model) == {"name", "creation_timestamp", "last_updated_timestamp", "description", "user_id", "tags"}
    assert (model["user_id"], model["tags"]) == ("ada", [{"key": "team", "value": "growth"}])
    assert isinstance(model["creation_timestamp"], int)
    again = api.post(f"{API}/registered-models/create", json={"name": "churn"})
    assert again.status_code == 400
    assert again.json() == {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Registered Model (name=churn) already exists."}
    missing = api.get(f"{API}/registered-models/get", params={"name": "nope"})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert api.get("/ajax-api/2.0/mlflow/registered-models/get", params={"name": "churn"}).status_code == 200


def test_version_wire_shape(api, churn):
    got = api.get(f"{API}/model-versions/get", params={"name": "churn", "version": "2"}).json()["model_version"]
    assert got["version"] == "2" and got["current_stage"] == "None" and got["status"] == "READY"
    assert got["run_id"] == churn and got["source"] == f"runs:/{churn}/model"
    assert "aliases" not in got and "description" not in got  # unset fields are omitted
    uri = api.get(f"{API}/model-versions/get-download-uri", params={"name": "churn", "version": 1}).json()
    assert uri == {"artifact_uri": f"mlflow-artifacts:/0/{churn}/artifacts/model"}
    bad = api.get(f"{API}/model-versions/get", params={"name": "churn", "version": "x"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_search_endpoints(api, churn):
    api.post(f"{API}/registered-models/create", json={"name": "zeta"})
    page = api.get(f"{API}/registered-models/search", params=[("order_by", "name DESC"), ("max_results", "1")]).json()
    assert [m["name"] for m in page["registered_models"]] == ["zeta"] and page["next_page_token"]
    rest = api.get(f"{API}/registered-models/search", params={"page_token": page["next_page_token"], "order_by": "name DESC"})
    assert [m["name"] for m in rest.json()["registered_models"]] == ["churn"]
    assert [m["name"] for m in rest.json()["registered_models"][0]["latest_versions"]] == ["churn"]
    too_many = api.get(f"{API}/registered-models/search", params={"max_results": 1001})
    assert too_many.status_code == 400
    versions = api.get(f"{API}/model-versions/search", params={"filter": "name='churn' AND version_number > 1"}).json()
    assert [v["version"] for v in versions["model_versions"]] == ["2"]
    bad = api.get(f"{API}/model-versions/search", params={"filter": "name >> 'x'"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_stages_latest_versions_and_aliases(api, churn):
    moved = api.post(
        f"{API}/model-versions/transition-stage",
        json={"name": "churn", "version": "1", "stage": "staging", "archive_existing_versions": False},
    )
    assert moved.json()["model_version"]["current_stage"] == "Staging"
    latest = api.post(f"{API}/registered-models/get-latest-versions", json={"name": "churn", "stages": ["Staging"]})
    assert [v["version"] for v in latest.json()["model_versions"]] == ["1"]
    latest_get = api.get(f"{API}/registered-models/get-latest-versions", params=[("name", "churn"), ("stages", "None")])
    assert [v["version"] for v in latest_get.json()["model_versions"]] == ["2"]
    assert api.post(f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion", "version": "2"}).json() == {}
    by_alias = api.get(f"{API}/registered-models/alias", params={"name": "churn", "alias": "champion"}).json()
    assert by_alias["model_version"]["aliases"] == ["champion"]
    model = api.get(f"{API}/registered-models/get", params={"name": "churn"}).json()["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert _delete(api, f"{API}/registered-models/alias", {"name": "churn", "alias": "champion"}).status_code == 200
    missing = api.get(f"{API}/registered-models/alias", params={"name": "churn", "alias": "champion"})
    assert (missing.status_code, missing.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    reserved = api.post(f"{API}/registered-models/alias", json={"name": "churn", "alias": "v2", "version": "2"})
    assert reserved.status_code == 400


def test_history_endpoint_names_the_request_user(api, churn):
    as_ada = {"X-Modelyard-User": "ada"}
    api.post(f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion", "version": "1"}, headers=as_ada)
    api.post(
        f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion", "version": "2"}, auth=("bob", "x")
    )
    api.post(
        f"{API}/model-versions/transition-stage",
        json={"name": "churn", "version": "2", "stage": "Production", "user_id": "ci-bot"},
    )
    events = api.get(f"{API}/registered-models/history", params={"name": "churn"}).json()["events"]
    assert [(e["kind"], e["target"], e["action"], e["user_id"]) for e in events] == [
        ("stage", "Production", "transitioned", "ci-bot"),
        ("alias", "champion", "moved", "bob"),
        ("alias", "champion", "created", "ada"),
    ]
    assert events[1]["from_version"] == "1" and events[1]["to_version"] == "2"
    only = api.get(f"{API}/registered-models/history", params={"name": "churn", "alias": "champion", "max_results": 1})
    assert len(only.json()["events"]) == 1 and only.json()["next_page_token"]
    both = api.get(f"{API}/registered-models/history", params={"name": "churn", "alias": "a", "stage": "Staging"})
    assert both.status_code == 400


def test_lineage_resolve_and_registrations(api, run_id):
    logged = api.post(f"{API}/logged-models", json={"experiment_id": "0", "name": "model", "source_run_id": run_id})
    model_id = logged.json()["model"]["info"]["model_id"]
    api.post(f"{API}/registered-models/create", json={"name": "churn"})
    created = api.post(
        f"{API}/model-versions/create", json={"name": "churn", "source": f"models:/{model_id}", "model_id": model_id}
    ).json()["model_version"]
    assert (created["model_id"], created["run_id"]) == (model_id, run_id)
    lineage = api.get(f"{API}/model-versions/lineage", params={"name": "churn", "version": "1"}).json()
    assert lineage["logged_model"]["model_id"] == model_id and lineage["run"]["run_id"] == run_id
    assert lineage["experiment"]["experiment_id"] == "0" and lineage["model_version"]["version"] == "1"
    api.post(f"{API}/registered-models/alias", json={"name": "churn", "alias": "prod", "version": "1"})
    resolved = api.get(f"{API}/model-versions/resolve", params={"name": "churn", "selector": "@prod"}).json()
    assert resolved["artifact_uri"] == f"mlflow-artifacts:/0/models/{model_id}/artifacts"
    assert resolved["model_version"]["version"] == "1"
    registrations = api.get(f"{API}/logged-models/{model_id}/registrations").json()["model_versions"]
    assert [(v["name"], v["version"]) for v in registrations] == [("churn", "1")]


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "//proc/self/root",
        "file:///tmp?x=/../../etc",
        "http:///#/../../../../etc/",
        "mlflow-artifacts:/0/RUN/artifacts/../../../..",
        "mlflow-artifacts:/0/RUN/artifacts/%2e%2e/%2e%2e/%2e%2e",
        "mlflow-artifacts:/0/RUN/artifacts/%252e%252e%252f",
        "mlflow-artifacts:/0/RUN/artifacts;/../../etc",
        "mlflow-artifacts://attacker.example/0/RUN/artifacts/model",
    ],
)
def test_unsafe_sources_answer_400_and_store_nothing(api, run_id, source):
    """CVE-2023-1177, -6977, -6909, 2024-1483, -1558, -1560, -1593 inputs, with a real run id."""
    api.post(f"{API}/registered-models/create", json={"name": "churn"})
    body = {"name": "churn", "source": source.replace("RUN", run_id), "run_id": run_id}
    response = api.post(f"{API}/model-versions/create", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Traceback" not in response.text
    assert api.get(f"{API}/model-versions/search", params={"filter": "name = 'churn'"}).json()["model_versions"] == []


def test_delete_endpoints(api, churn):
    api.post(f"{API}/model-versions/set-tag", json={"name": "churn", "version": "1", "key": "k", "value": "v"})
    assert _delete(api, f"{API}/model-versions/delete-tag", {"name": "churn", "version": "1", "key": "k"}).json() == {}
    assert _delete(api, f"{API}/model-versions/delete", {"name": "churn", "version": "2"}).json() == {}
    created = api.post(f"{API}/model-versions/create", json={"name": "churn", "source": f"runs:/{churn}/model", "run_id": churn})
    assert created.json()["model_version"]["version"] == "3"
    api.post(f"{API}/registered-models/set-tag", json={"name": "churn", "key": "k", "value": "v"})
    assert _delete(api, f"{API}/registered-models/delete-tag", {"name": "churn", "key": "k"}).status_code == 200
    renamed = api.post(f"{API}/registered-models/rename", json={"name": "churn", "new_name": "churn2"})
    assert renamed.json()["registered_model"]["name"] == "churn2"
    updated = api.request("PATCH", f"{API}/registered-models/update", json={"name": "churn2", "description": "x"})
    assert updated.json()["registered_model"]["description"] == "x"
    assert _delete(api, f"{API}/registered-models/delete", {"name": "churn2"}).json() == {}
    assert api.get(f"{API}/registered-models/get", params={"name": "churn2"}).status_code == 404
