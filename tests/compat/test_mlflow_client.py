"""The real mlflow 3 client (``mlflow==3.17.2``) against our server: tracking, artifacts, models.

Each test runs one client script in a subprocess (see ``conftest.py``) and asserts on the values
mlflow returned, then, where it matters, on what the server stored.
"""

from __future__ import annotations

import httpx
import pytest

from modelyard.entities import ViewType


def test_fluent_tracking_with_nested_runs(mlflow3, compat_server, unique):
    got = mlflow3.run(
        f"""
        exp_id = mlflow.set_experiment({unique!r}).experiment_id
        with mlflow.start_run(run_name="parent") as parent:
            mlflow.log_param("lr", 0.1)
            mlflow.log_params({{"depth": 3, "loss": "mse"}})
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metrics({{"acc": 0.75, "f1": 0.5}})
            mlflow.set_tag("team", "blue")
            mlflow.set_tags({{"stage": "dev", "owner": "ada"}})
            children = []
            for i in range(2):
                with mlflow.start_run(run_name=f"child-{{i}}", nested=True) as child:
                    mlflow.log_metric("score", i * 10)
                    children.append(child.info.run_id)
        client = MlflowClient()
        run = client.get_run(parent.info.run_id)
        kids = [client.get_run(c) for c in children]
        frame = mlflow.search_runs(experiment_names=[{unique!r}], order_by=["attributes.start_time ASC"])
        filtered = mlflow.search_runs([exp_id], filter_string="metrics.score >= 5", output_format="list")
        emit({{
            "exp_id": exp_id,
            "parent_id": parent.info.run_id,
            "status": run.info.status,
            "run_name": run.info.run_name,
            "params": run.data.params,
            "metrics": run.data.metrics,
            "tags": {{k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}},
            "run_name_tag": run.data.tags["mlflow.runName"],
            "kids": [[k.info.run_name, k.data.tags.get("mlflow.parentRunId"), k.data.metrics, k.info.status]
                     for k in kids],
            "frame_names": list(frame["tags.mlflow.runName"]),
            "frame_columns": sorted(c for c in frame.columns if c.startswith(("metrics.", "params."))),
            "filtered": [r.info.run_name for r in filtered],
            "last_active": mlflow.last_active_run().info.run_id,
        }})
        """
    )
    parent = got["parent_id"]
    assert got["status"] == "FINISHED"
    assert got["run_name"] == got["run_name_tag"] == "parent"
    assert got["params"] == {"lr": "0.1", "depth": "3", "loss": "mse"}
    assert got["metrics"] == {"loss": pytest.approx(1 / 3), "acc": 0.75, "f1": 0.5}
    assert got["tags"] == {"team": "blue", "stage": "dev", "owner": "ada"}
    assert got["kids"] == [
        ["child-0", parent, {"score": 0.0}, "FINISHED"],
        ["child-1", parent, {"score": 10.0}, "FINISHED"],
    ]
    assert got["frame_names"] == ["parent", "child-0", "child-1"]
    assert got["frame_columns"] == [
        "metrics.acc",
        "metrics.f1",
        "metrics.loss",
        "metrics.score",
        "params.depth",
        "params.loss",
        "params.lr",
    ]
    assert got["filtered"] == ["child-1"]
    assert got["last_active"] == parent
    # What the server stored matches what the client was told.
    history = compat_server.services.tracking.store.get_metric_history(parent, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]


def test_client_api_experiments_batches_history_and_errors(mlflow3, unique):
    got = mlflow3.run(
        f"""
        from mlflow.entities import Metric, Param, RunTag
        client = MlflowClient()
        exp_id = client.create_experiment({unique!r}, tags={{"project": "compat"}})
        found = client.search_experiments(filter_string="name = '{unique}'")
        by_tag = client.search_experiments(filter_string="tags.project = 'compat' AND name LIKE 'compat-%'")
        run = client.create_run(exp_id, run_name="batch")
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric("m", float(s * s), 1000 + s, s) for s in range(5)],
            params=[Param("p", "1"), Param("q", "two")],
            tags=[RunTag("t", "x")],
        )
        history = client.get_metric_history(rid, "m")
        client.set_terminated(rid, "KILLED")
        errors = {{
            "missing_run": error_code(client.get_run, "0" * 32),
            "changed_param": error_code(client.log_param, rid, "p", "2"),
            "duplicate_experiment": error_code(client.create_experiment, {unique!r}),
            "bad_filter": error_code(client.search_runs, [exp_id], "metrics.m >> 1"),
        }}
        client.delete_experiment(exp_id)
        deleted_stage = client.get_experiment(exp_id).lifecycle_stage
        client.restore_experiment(exp_id)
        renamed = {unique!r} + "-renamed"
        client.rename_experiment(exp_id, renamed)
        emit({{
            "found": [[e.experiment_id, e.name, e.tags.get("project")] for e in found],
            "by_tag": [e.experiment_id for e in by_tag],
            "history": [[m.step, m.value, m.timestamp] for m in history],
            "run": [client.get_run(rid).info.status, client.get_run(rid).data.params, client.get_run(rid).data.tags["t"]],
            "exp_id": exp_id,
            "errors": errors,
            "stages": [deleted_stage, client.get_experiment(exp_id).lifecycle_stage],
            "by_name": client.get_experiment_by_name(renamed).experiment_id,
        }})
        """
    )
    exp_id = got["exp_id"]
    assert got["found"] == [[exp_id, got["found"][0][1], "compat"]]
    assert exp_id in got["by_tag"]
    assert got["history"] == [[s, float(s * s), 1000 + s] for s in range(5)]
    assert got["run"] == ["KILLED", {"p": "1", "q": "two"}, "x"]
    assert got["errors"] == {
        "missing_run": "RESOURCE_DOES_NOT_EXIST",
        "changed_param": "INVALID_PARAMETER_VALUE",
        "duplicate_experiment": "RESOURCE_ALREADY_EXISTS",
        "bad_filter": "INVALID_PARAMETER_VALUE",
    }
    assert got["stages"] == ["deleted", "active"]
    assert got["by_name"] == exp_id


def test_search_runs_pages_and_delete_restore(mlflow3, compat_server, unique):
    got = mlflow3.run(
        f"""
        from mlflow.entities import ViewType
        client = MlflowClient()
        exp_id = client.create_experiment({unique!r})
        ids = []
        for i in range(7):
            run = client.create_run(exp_id, run_name=f"r{{i}}")
            client.log_metric(run.info.run_id, "m", float(i))
            client.log_param(run.info.run_id, "parity", "even" if i % 2 == 0 else "odd")
            ids.append(run.info.run_id)
        pages, token = [], None
        while True:
            page = client.search_runs([exp_id], order_by=["metrics.m DESC"], max_results=3, page_token=token)
            pages.append([r.data.metrics["m"] for r in page])
            token = page.token
            if not token:
                break
        odd = client.search_runs([exp_id], filter_string="params.parity = 'odd' AND metrics.m > 1",
                                 order_by=["metrics.m ASC"])
        client.delete_run(ids[0])
        active = client.search_runs([exp_id], run_view_type=ViewType.ACTIVE_ONLY)
        deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
        everything = client.search_runs([exp_id], run_view_type=ViewType.ALL)
        deleted_stage = client.get_run(ids[0]).info.lifecycle_stage
        client.restore_run(ids[0])
        emit({{
            "exp_id": exp_id,
            "pages": pages,
            "odd": [r.info.run_name for r in odd],
            "counts": [len(active), len(deleted), len(everything)],
            "deleted_names": [r.info.run_name for r in deleted],
            "stages": [deleted_stage, client.get_run(ids[0]).info.lifecycle_stage],
            "after_restore": len(client.search_runs([exp_id])),
        }})
        """
    )
    assert got["pages"] == [[6.0, 5.0, 4.0], [3.0, 2.0, 1.0], [0.0]]
    assert got["odd"] == ["r3", "r5"]
    assert got["counts"] == [6, 1, 7]
    assert got["deleted_names"] == ["r0"]
    assert got["stages"] == ["deleted", "active"]
    assert got["after_restore"] == 7
    store = compat_server.services.tracking.store
    assert len(store.search_runs([got["exp_id"]], run_view_type=ViewType.ALL)) == 7


def test_artifacts_log_list_download(mlflow3, compat_server, unique, tmp_path):
    got = mlflow3.run(
        f"""
        import os, pathlib, tempfile
        mlflow.set_experiment({unique!r})
        src = pathlib.Path(tempfile.mkdtemp())
        (src / "a.txt").write_text("alpha")
        (src / "data").mkdir()
        (src / "data" / "b.csv").write_text("x,y\\n1,2\\n")
        (src / "data" / "nested").mkdir()
        (src / "data" / "nested" / "c.bin").write_bytes(bytes(range(256)))
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(src / "a.txt"))
            mlflow.log_artifacts(str(src / "data"), artifact_path="data")
            mlflow.log_text("hello text", "notes/hello.txt")
            mlflow.log_dict({{"k": [1, 2]}}, "notes/config.json")
        client = MlflowClient()
        rid = run.info.run_id
        top = client.list_artifacts(rid)
        data = client.list_artifacts(rid, "data")
        dst = pathlib.Path(tempfile.mkdtemp())
        local = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="data", dst_path=str(dst))
        files = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
        emit({{
            "run_id": rid,
            "artifact_uri": run.info.artifact_uri,
            "top": [[f.path, f.is_dir, f.file_size] for f in top],
            "data": [[f.path, f.is_dir, f.file_size] for f in data],
            "downloaded": files,
            "csv": (dst / "data" / "b.csv").read_text(),
            "bin_ok": (dst / "data" / "nested" / "c.bin").read_bytes() == bytes(range(256)),
            "local_is_dir": os.path.isdir(local),
            "text": mlflow.artifacts.load_text(f"runs:/{{rid}}/notes/hello.txt"),
            "dict": mlflow.artifacts.load_dict(f"runs:/{{rid}}/notes/config.json"),
        }})
        """
    )
    rid = got["run_id"]
    assert got["artifact_uri"].startswith("mlflow-artifacts:/") and got["artifact_uri"].endswith(
        f"/{rid}/artifacts"
    )
    assert got["top"] == [["a.txt", False, 5], ["data", True, None], ["notes", True, None]]
    assert got["data"] == [["data/b.csv", False, 8], ["data/nested", True, None]]
    assert got["downloaded"] == ["data/b.csv", "data/nested/c.bin"]
    assert got["csv"] == "x,y\n1,2\n"
    assert got["bin_ok"] and got["local_is_dir"]
    assert got["text"] == "hello text"
    assert got["dict"] == {"k": [1, 2]}
    # The files sit under the server's artifacts destination, at MLflow's layout.
    exp_id = got["artifact_uri"].split("/")[1]
    on_disk = compat_server.artifacts / exp_id / rid / "artifacts" / "a.txt"
    assert on_disk.read_text() == "alpha"


SKLEARN_MODEL = """
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=500).fit(X, y)
expected = model.predict_proba(X.iloc[:20]).tolist()
"""


def test_sklearn_log_model_then_load_by_run_and_model_uri(mlflow3, compat_server, unique):
    got = mlflow3.run(
        SKLEARN_MODEL
        + f"""
import mlflow.sklearn, mlflow.pyfunc
mlflow.set_experiment({unique!r})
with mlflow.start_run() as run:
    mlflow.log_param("max_iter", 500)
    # Explicit requirements skip mlflow's client-side inference (a ~12 s subprocess that never
    # talks to the server); everything else is the default log_model flow.
    info = mlflow.sklearn.log_model(
        model, name="model", input_example=X.iloc[:5], pip_requirements=["scikit-learn", "mlflow"]
    )
client = MlflowClient()
rid = run.info.run_id
by_run = mlflow.pyfunc.load_model(f"runs:/{{rid}}/model")
by_id = mlflow.pyfunc.load_model(f"models:/{{info.model_id}}")
native = mlflow.sklearn.load_model(info.model_uri)
logged = client.get_logged_model(info.model_id)
found = client.search_logged_models([run.info.experiment_id], filter_string="name = 'model'")
emit({{
    "run_id": rid,
    "model_id": info.model_id,
    "model_uri": info.model_uri,
    "by_run": by_run.predict(X.iloc[:20]).tolist(),
    "by_id": by_id.predict(X.iloc[:20]).tolist(),
    "local": model.predict(X.iloc[:20]).tolist(),
    "native_proba": native.predict_proba(X.iloc[:20]).tolist(),
    "expected_proba": expected,
    "flavors": sorted(by_id.metadata.flavors),
    "status": str(logged.status),
    "source_run_id": logged.source_run_id,
    "artifact_location": logged.artifact_location,
    "params": logged.params,
    "found": [m.model_id for m in found],
    "outputs": [[o.model_id, o.step] for o in client.get_run(rid).outputs.model_outputs],
    "files": sorted(f.path for f in mlflow.artifacts.list_artifacts(artifact_uri=info.model_uri)),
}})
"""
    )
    model_id = got["model_id"]
    assert model_id.startswith("m-") and len(model_id) == 34
    assert got["model_uri"] == f"models:/{model_id}"
    assert got["by_run"] == got["by_id"] == got["local"]
    assert got["native_proba"] == got["expected_proba"]
    assert got["flavors"] == ["python_function", "sklearn"]
    assert got["status"] == "READY"
    assert got["source_run_id"] == got["run_id"]
    assert got["artifact_location"].endswith(f"/models/{model_id}/artifacts")
    assert got["params"] == {"max_iter": "500"}
    assert got["found"] == [model_id]
    assert got["outputs"] == [[model_id, 0]]
    assert {"MLmodel", "requirements.txt", "input_example.json"} <= set(got["files"])
    # Server side: the run's outputs and the model's files under the artifacts destination.
    run = compat_server.services.tracking.store.get_run(got["run_id"])
    assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
    exp_id = got["artifact_location"].split("/")[1]
    assert (compat_server.artifacts / exp_id / "models" / model_id / "artifacts" / "MLmodel").is_file()
    listing = httpx.get(
        f"{compat_server.url}/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories", timeout=10
    ).json()
    assert listing["root_uri"] == got["artifact_location"]
    assert sorted(f["path"] for f in listing["files"]) == got["files"]
    missing = httpx.get(f"{compat_server.url}/api/2.0/mlflow/logged-models/m-{'0' * 32}", timeout=10)
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_logged_model_client_api(mlflow3, compat_server, unique):
    got = mlflow3.run(
        f"""
        from mlflow.entities import LoggedModelParameter, LoggedModelStatus, LoggedModelTag
        client = MlflowClient()
        exp_id = client.create_experiment({unique!r})
        run = client.create_run(exp_id)
        ids = []
        for i, kind in enumerate(["a", "b", "a", "b", "a"]):
            m = client.create_logged_model(
                exp_id, name=f"model-{{i}}", source_run_id=run.info.run_id, model_type=kind,
                params={{"i": str(i)}}, tags={{"kind": kind}},
            )
            ids.append(m.model_id)
        first = client.get_logged_model(ids[0])
        client.set_logged_model_tags(ids[0], {{"extra": "1", "kind": "z"}})
        client.delete_logged_model_tag(ids[0], "extra")
        client.log_model_params(ids[0], {{"more": "yes"}})
        ready = client.finalize_logged_model(ids[0], LoggedModelStatus.READY)
        failed = client.finalize_logged_model(ids[1], LoggedModelStatus.FAILED)
        pages, token = [], None
        while True:
            page = client.search_logged_models([exp_id], max_results=2, page_token=token,
                                               order_by=[{{"field_name": "name", "ascending": True}}])
            pages.append([m.name for m in page])
            token = page.token
            if not token:
                break
        type_a = client.search_logged_models([exp_id], filter_string="model_type = 'a' AND params.i != '0'")
        is_ready = client.search_logged_models([exp_id], filter_string="status = 'LOGGED_MODEL_READY'")
        by_tag = client.search_logged_models([exp_id], filter_string="tags.kind = 'b'",
                                             order_by=[{{"field_name": "creation_timestamp", "ascending": False}}])
        fluent = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name LIKE 'model-%'",
                                             output_format="list")
        client.delete_logged_model(ids[4])
        gone = error_code(client.get_logged_model, ids[4])
        emit({{
            "ids": ids,
            "first": [first.name, str(first.status), first.model_type, first.params, first.tags,
                      first.source_run_id, first.experiment_id],
            "ready": [str(ready.status), ready.tags, ready.params],
            "failed": str(failed.status),
            "pages": pages,
            "type_a": sorted(m.name for m in type_a),
            "is_ready": [m.model_id for m in is_ready],
            "by_tag": [m.name for m in by_tag],
            "fluent": len(fluent),
            "gone": gone,
            "after_delete": len(client.search_logged_models([exp_id])),
            "run_id": run.info.run_id,
            "exp_id": exp_id,
        }})
        """
    )
    ids = got["ids"]
    assert got["first"] == [
        "model-0",
        "PENDING",
        "a",
        {"i": "0"},
        {"kind": "a"},
        got["run_id"],
        got["exp_id"],
    ]
    assert got["ready"] == ["READY", {"kind": "z"}, {"i": "0", "more": "yes"}]
    assert got["failed"] == "FAILED"
    assert got["pages"] == [["model-0", "model-1"], ["model-2", "model-3"], ["model-4"]]
    assert got["type_a"] == ["model-2", "model-4"]
    assert got["is_ready"] == [ids[0]]
    assert got["by_tag"] == ["model-3", "model-1"]
    assert got["fluent"] == 5
    assert got["gone"] == "RESOURCE_DOES_NOT_EXIST"
    assert got["after_delete"] == 4
    # The artifact listing endpoint (used by the UI and Databricks-style clients).
    files = httpx.get(
        f"{compat_server.url}/api/2.0/mlflow/logged-models/{ids[0]}/artifacts/directories", timeout=10
    )
    assert files.status_code == 200
    assert files.json()["root_uri"].endswith(f"/models/{ids[0]}/artifacts")
    assert files.json().get("files", []) == []


def test_metrics_logged_with_model_id_are_linked_to_the_model(mlflow3, unique):
    got = mlflow3.run(
        f"""
        mlflow.set_experiment({unique!r})
        with mlflow.start_run() as run:
            model = mlflow.create_external_model(name="ext")
            mlflow.log_metric("acc", 0.5, step=0, model_id=model.model_id)
            mlflow.log_metric("acc", 0.9, step=1, model_id=model.model_id)
            mlflow.log_metric("unlinked", 1.0)
            other = mlflow.create_external_model(name="ext2")
            mlflow.log_metric("acc", 0.7, step=1, model_id=other.model_id)
        client = MlflowClient()
        exp_id = run.info.experiment_id
        linked = client.get_logged_model(model.model_id)
        best = mlflow.search_logged_models(
            experiment_ids=[exp_id], order_by=[{{"field_name": "metrics.acc", "ascending": False}}],
            output_format="list",
        )
        over = client.search_logged_models([exp_id], filter_string="metrics.acc > 0.8")
        emit({{
            "metrics": sorted([m.key, m.step, m.value, m.model_id == model.model_id, m.run_id == run.info.run_id]
                              for m in linked.metrics),
            "best": [m.name for m in best],
            "over": [m.name for m in over],
            "run_metrics": sorted(client.get_run(run.info.run_id).data.metrics),
        }})
        """
    )
    assert got["metrics"] == [["acc", 0, 0.5, True, True], ["acc", 1, 0.9, True, True]]
    assert got["best"] == ["ext", "ext2"]
    assert got["over"] == ["ext"]
    assert got["run_metrics"] == ["acc", "unlinked"]
