"""The compatibility gaps MLflow's own server tests exposed, closed and checked through the real mlflow
3 client: the server version the client gates features on, a logged model's ``mlflow.modelVersions``
tag after ``create_model_version(model_id=...)``, the content types of downloads, the UI endpoints
``upload-artifact`` and ``experiments/search-datasets``, and MLflow's wording of validation errors."""

from __future__ import annotations

from modelyard.server.routes.meta import MLFLOW_API_VERSION


def test_the_client_sees_an_mlflow_server_version(mlflow3):
    got = mlflow3.run(
        """
        import os
        import requests
        from packaging.version import Version
        from mlflow.store.tracking.rest_store import RestStore
        from mlflow.utils.rest_utils import MlflowHostCreds

        uri = os.environ["MLFLOW_TRACKING_URI"]
        version = RestStore._get_server_version(MlflowHostCreds(uri))
        emit({
            "version": str(version),
            "spans_allowed": version >= Version("3.4"),
            "ours": requests.get(uri + "/api/2.0/modelyard/version").json(),
            "info": requests.get(uri + "/api/3.0/mlflow/server-info").json(),
        })
        """
    )
    assert got["version"] == MLFLOW_API_VERSION and got["spans_allowed"]
    assert got["ours"]["mlflow_api_version"] == MLFLOW_API_VERSION
    assert got["ours"]["version"] == got["info"]["modelyard_version"] != MLFLOW_API_VERSION


def test_create_model_version_with_model_id_tags_the_logged_model(mlflow3, unique):
    got = mlflow3.run(
        f"""
        import json
        client = MlflowClient()
        exp = client.create_experiment({unique!r})
        model = client.create_logged_model(exp, name="clf")
        client.create_registered_model({unique!r})
        client.create_registered_model({unique!r} + "-b")
        v1 = client.create_model_version({unique!r}, f"models:/{{model.model_id}}", model_id=model.model_id)
        v2 = client.create_model_version({unique!r}, f"models:/{{model.model_id}}", model_id=model.model_id)
        v3 = client.create_model_version({unique!r} + "-b", f"models:/{{model.model_id}}", model_id=model.model_id)
        tag = client.get_logged_model(model.model_id).tags.get("mlflow.modelVersions")
        emit({{"versions": [v1.version, v2.version, v3.version], "tag": json.loads(tag)}})
        """
    )
    assert got["versions"] == ["1", "2", "1"]
    assert got["tag"] == [
        {"name": unique, "version": "1"},
        {"name": unique, "version": "2"},
        {"name": f"{unique}-b", "version": "1"},
    ]


def test_downloads_carry_the_real_type_of_safe_files(mlflow3, unique):
    got = mlflow3.run(
        f"""
        import os
        import requests
        uri = os.environ["MLFLOW_TRACKING_URI"]
        mlflow.set_experiment({unique!r})
        with mlflow.start_run() as run:
            mlflow.log_text("hello", "notes.txt")
            mlflow.log_dict({{"a": 1}}, "metrics.json")
            mlflow.log_text("<html><script>alert(1)</script></html>", "page.html")
            mlflow.log_text("<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg")
        root = run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1].strip("/")
        out = {{}}
        for name in ("notes.txt", "metrics.json", "page.html", "logo.svg"):
            for how, url in (
                ("proxy", f"{{uri}}/api/2.0/mlflow-artifacts/artifacts/{{root}}/{{name}}"),
                ("ui", f"{{uri}}/get-artifact?run_id={{run.info.run_id}}&path={{name}}"),
            ):
                r = requests.get(url)
                out[f"{{how}}:{{name}}"] = [r.status_code, r.headers["content-type"], r.headers["content-disposition"],
                                          r.headers["x-content-type-options"], r.headers["content-security-policy"]]
        out["text"] = mlflow.artifacts.load_text(f"runs:/{{run.info.run_id}}/notes.txt")
        emit(out)
        """
    )
    expected = {
        "notes.txt": "text/plain; charset=utf-8",
        "metrics.json": "application/json",
        "page.html": "text/plain; charset=utf-8",
        "logo.svg": "image/svg+xml",
    }
    for name, kind in expected.items():
        for how in ("proxy", "ui"):
            status, ctype, disposition, nosniff, csp = got[f"{how}:{name}"]
            assert (status, ctype, nosniff) == (200, kind, "nosniff"), (how, name)
            assert disposition.startswith("attachment") and "sandbox" in csp and "frame-ancestors 'none'" in csp
    assert got["text"] == "hello"


def test_the_ui_endpoints_upload_artifact_and_search_datasets(mlflow3, unique):
    got = mlflow3.run(
        f"""
        import os
        import pandas as pd
        import requests
        uri = os.environ["MLFLOW_TRACKING_URI"]
        mlflow.set_experiment({unique!r})
        df = pd.DataFrame({{"x": [1, 2, 3], "y": [0, 1, 0]}})
        with mlflow.start_run() as run:
            mlflow.log_input(mlflow.data.from_pandas(df, name="train-set"), context="training")
            mlflow.log_input(mlflow.data.from_pandas(df.head(2), name="eval-set"), context="eval")
        exp = run.info.experiment_id
        upload = requests.post(
            f"{{uri}}/ajax-api/2.0/mlflow/upload-artifact",
            params={{"run_uuid": run.info.run_id, "path": "notes/readme.txt"}},
            data=b"uploaded from the UI",
        )
        missing = requests.post(f"{{uri}}/ajax-api/2.0/mlflow/upload-artifact", params={{"path": "x.txt"}}, data=b"x")
        empty = requests.post(
            f"{{uri}}/ajax-api/2.0/mlflow/upload-artifact", params={{"run_uuid": run.info.run_id, "path": "x.txt"}}
        )
        found = requests.post(f"{{uri}}/ajax-api/2.0/mlflow/experiments/search-datasets", json={{"experiment_ids": [exp]}})
        none = requests.post(f"{{uri}}/ajax-api/2.0/mlflow/experiments/search-datasets", json={{"experiment_ids": []}})
        emit({{
            "upload": [upload.status_code, upload.json()],
            "text": mlflow.artifacts.load_text(f"runs:/{{run.info.run_id}}/notes/readme.txt"),
            "listed": [f.path for f in MlflowClient().list_artifacts(run.info.run_id, "notes")],
            "missing": [missing.status_code, missing.json()],
            "empty": [empty.status_code, empty.json()["message"]],
            "found": [found.status_code, found.json(), exp],
            "none": [none.status_code, none.json()["message"]],
        }})
        """
    )
    assert got["upload"] == [200, {}]
    assert got["text"] == "uploaded from the UI" and got["listed"] == ["notes/readme.txt"]
    assert got["missing"] == [400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Request must specify run_uuid."}]
    assert got["empty"] == [400, "Request must specify data."]
    status, body, exp = got["found"]
    assert status == 200
    summaries = sorted((d["name"], d.get("context"), d["experiment_id"]) for d in body["dataset_summaries"])
    assert summaries == [("eval-set", "eval", exp), ("train-set", "training", exp)]
    assert all(len(d["digest"]) > 0 for d in body["dataset_summaries"])
    assert got["none"] == [400, "SearchDatasets request must specify at least one experiment_id."]


def test_validation_messages_read_as_mlflows(mlflow3, unique):
    got = mlflow3.run(
        """
        import os
        import requests
        from mlflow.exceptions import RestException

        uri = os.environ["MLFLOW_TRACKING_URI"]

        def told(response):
            try:
                raise RestException(response.json())
            except RestException as exc:
                return [exc.error_code, exc.message]

        emit({
            "interval": told(requests.get(f"{uri}/api/2.0/mlflow/metrics/get-history-bulk-interval",
                                          params={"metric_key": "m"})),
            "max_results": told(requests.post(f"{uri}/api/2.0/mlflow/runs/search",
                                              json={"experiment_ids": ["0"], "max_results": "many"})),
            "run_id": told(requests.get(f"{uri}/api/2.0/mlflow/runs/get")),
        })
        """
    )
    assert got["interval"] == ["INVALID_PARAMETER_VALUE", "INVALID_PARAMETER_VALUE: Missing value for required parameter 'run_ids'."]
    code, message = got["max_results"]
    assert code == "INVALID_PARAMETER_VALUE"
    assert "Invalid value \"many\" for parameter 'max_results' supplied" in message
    assert got["run_id"][1].endswith("Missing value for required parameter 'run_id'.")
