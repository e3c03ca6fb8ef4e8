"""Logged-model endpoints in-process: wire shapes, path parameters, errors.

The real mlflow client drives the same endpoints in ``tests/compat``; this covers what it never
sends (slashes in tag keys, allow_deleted, bad statuses, artifact listing paths).
"""

from __future__ import annotations

from pathlib import Path

B = "/api/2.0/mlflow/logged-models"


def _create(api, **body) -> dict:
    r = api.post(B, json={"experiment_id": "0", **body})
    assert r.status_code == 200, r.text
    return r.json()["model"]


def test_create_get_finalize_wire_shape(api):
    model = _create(
        api,
        name="m",
        model_type="sk",
        tags=[{"key": "a/b c", "value": "1"}],
        params=[{"key": "p", "value": "2"}],
    )
    info = model["info"]
    mid = info["model_id"]
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/0/models/{mid}/artifacts"
    assert isinstance(info["creation_timestamp_ms"], int) and "source_run_id" not in info
    assert model["data"] == {"params": [{"key": "p", "value": "2"}]}
    assert api.get(f"{B}/{mid}").json() == {"model": model}
    ajax = api.get(f"/ajax-api/2.0/mlflow/logged-models/{mid}")
    assert ajax.json()["model"]["info"]["model_id"] == mid
    done = api.request("PATCH", f"{B}/{mid}", json={"status": "LOGGED_MODEL_READY"}).json()["model"]["info"]
    assert done["status"] == "LOGGED_MODEL_READY"
    bad = api.request("PATCH", f"{B}/{mid}", json={"status": "FINISHED"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_tags_params_and_delete(api):
    mid = _create(api, name="m", tags=[{"key": "dir/key", "value": "x"}])["info"]["model_id"]
    tagged = api.request("PATCH", f"{B}/{mid}/tags", json={"tags": [{"key": "k", "value": "v"}]}).json()
    assert tagged["model"]["info"]["tags"] == [{"key": "dir/key", "value": "x"}, {"key": "k", "value": "v"}]
    assert api.request("DELETE", f"{B}/{mid}/tags/dir/key").json() == {}
    gone = api.request("DELETE", f"{B}/{mid}/tags/dir/key")
    assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert api.post(f"{B}/{mid}/params", json={"params": [{"key": "lr", "value": "0.1"}]}).json() == {}
    changed = api.post(f"{B}/{mid}/params", json={"params": [{"key": "lr", "value": "0.2"}]})
    assert changed.status_code == 400
    assert api.get(f"{B}/{mid}").json()["model"]["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert api.request("DELETE", f"{B}/{mid}").json() == {}
    assert api.get(f"{B}/{mid}").status_code == 404
    deleted = api.get(f"{B}/{mid}", params={"allow_deleted": "true"})
    assert deleted.status_code == 200 and deleted.json()["model"]["info"]["model_id"] == mid


def test_search_pages_and_errors(api):
    for name in ("a", "b", "c"):
        _create(api, name=name)
    body = {
        "experiment_ids": ["0"],
        "max_results": 2,
        "order_by": [{"field_name": "name", "ascending": False}],
    }
    first = api.post(f"{B}/search", json=body).json()
    assert [m["info"]["name"] for m in first["models"]] == ["c", "b"]
    second = api.post(f"{B}/search", json={**body, "page_token": first["next_page_token"]}).json()
    assert [m["info"]["name"] for m in second["models"]] == ["a"] and "next_page_token" not in second
    assert api.post(f"{B}/search", json={"experiment_ids": ["0"], "filter": "name = 'zzz'"}).json() == {
        "models": []
    }
    bad = api.post(f"{B}/search", json={"experiment_ids": ["0"], "filter": "nope = 1"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    missing = api.post(B, json={"name": "m"})
    assert (missing.status_code, missing.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_artifact_directories_list_under_the_model_root(api, tmp_path: Path):
    mid = _create(api, name="m")["info"]["model_id"]
    root = tmp_path / "artifacts" / "0" / "models" / mid / "artifacts"
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "x.bin").write_bytes(b"123")
    url = f"{B}/{mid}/artifacts/directories"
    top = api.get(url).json()
    assert top == {
        "root_uri": f"mlflow-artifacts:/0/models/{mid}/artifacts",
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}, {"path": "sub", "is_dir": True}],
    }
    sub = api.get(url, params={"artifact_directory_path": "sub"}).json()["files"]
    assert sub == [{"path": "sub/x.bin", "is_dir": False, "file_size": 3}]
    escape = api.get(url, params={"artifact_directory_path": "../../.."})
    assert (escape.status_code, escape.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert api.get(f"{B}/m-{'0' * 32}/artifacts/directories").status_code == 404
