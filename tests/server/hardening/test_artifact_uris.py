"""Defect class 5: an artifact path that is a URI (``file:///…``, ``s3://…``, ``mlflow-artifacts:/…``,
any ``scheme://``) is refused with 400 in every artifact route -- run artifact listing, logged-model
listing, the proxy's list / upload / download / delete, the UI's downloads -- and nothing is written.
The one check is ``validate_artifact_path`` (modelyard/artifacts/paths.py), which every route uses."""

from __future__ import annotations

import pytest

from modelyard.artifacts.paths import validate_artifact_path
from modelyard.exceptions import InvalidParameterValue

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
URIS = ["file:///etc/passwd", "file:/etc", "s3://bucket/key", "mlflow-artifacts:/0/x", "http://evil/x",
        "gs://b/x", "FILE:///etc", "a/s3://b/x", "fi%6ce:/x"]


@pytest.mark.parametrize("uri", URIS)
def test_the_one_check_refuses_uris(uri):
    with pytest.raises(InvalidParameterValue, match="Invalid artifact path"):
        validate_artifact_path(uri)


@pytest.mark.parametrize("name", ["epoch:3.ckpt", "a/bc:d", "model/MLmodel", "data.v1.csv"])
def test_plain_names_with_colons_and_dots_stay_legal(name):
    assert validate_artifact_path(name) == name


@pytest.fixture
def run_id(db_api, hx, unique) -> str:
    return hx.run(db_api, hx.experiment(db_api, f"uris-{unique}"))


def _files(api) -> set[str]:
    return {str(p.relative_to(api.artifacts)) for p in api.artifacts.rglob("*") if p.is_file()}


@pytest.mark.parametrize("uri", ["file:///etc", "s3://bucket/x", "mlflow-artifacts:/0"])
def test_every_artifact_route_refuses_uri_paths(db_api, hx, run_id, uri):
    before = _files(db_api)
    hx.assert_invalid(db_api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": uri}), "URI")
    hx.assert_invalid(db_api.get(PROXY, params={"path": uri}), "URI")
    for method in ("PUT", "GET", "DELETE"):
        r = db_api.request(method, f"{PROXY}/{uri}", content=b"x" if method == "PUT" else None)
        hx.assert_invalid(r, "URI")
    r = db_api.get("/get-artifact", params={"run_id": run_id, "path": uri})
    assert r.status_code == 400, r.text
    assert _files(db_api) == before


def test_logged_model_listing_refuses_uri_paths(db_api, hx, unique):
    exp = hx.experiment(db_api, f"uris-lm-{unique}")
    model_id = db_api.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "m"}).json()["model"]["info"]["model_id"]
    r = db_api.get(f"{API}/logged-models/{model_id}/artifacts/directories", params={"artifact_directory_path": "file:///etc"})
    hx.assert_invalid(r, "URI")


def test_plain_uploads_still_work(db_api, run_id):
    uri = db_api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["artifact_uri"]
    root = uri.removeprefix("mlflow-artifacts:").strip("/")
    r = db_api.request("PUT", f"{PROXY}/{root}/epoch:3.ckpt", content=b"weights")
    assert r.status_code == 200, r.text
    listed = db_api.get(f"{API}/artifacts/list", params={"run_id": run_id}).json()
    assert [f["path"] for f in listed["files"]] == ["epoch:3.ckpt"]
