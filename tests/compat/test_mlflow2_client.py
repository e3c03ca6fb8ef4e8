"""The newest mlflow 2.x client (``mlflow-skinny``, its own cached virtualenv) against our server.

MLflow 2 clients are still everywhere; they speak the same tracking API without logged models.
The tracking subset: the fluent API with nested runs, MlflowClient experiments, batches,
metric history, paged search, delete/restore, and artifacts through the proxy.
"""

from __future__ import annotations


def test_mlflow2_fluent_tracking_and_artifacts(mlflow2, compat_server, unique):
    got = mlflow2.run(
        f"""
        import pathlib, tempfile
        exp = mlflow.set_experiment({unique!r})
        with mlflow.start_run(run_name="parent") as parent:
            mlflow.log_param("alpha", 0.5)
            mlflow.log_params({{"beta": 2, "gamma": "g"}})
            for step in range(4):
                mlflow.log_metric("loss", 10.0 - step, step=step)
            mlflow.log_metrics({{"acc": 0.8}})
            mlflow.set_tag("team", "red")
            mlflow.set_tags({{"stage": "prod"}})
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("score", 3.0)
            src = pathlib.Path(tempfile.mkdtemp())
            (src / "report.txt").write_text("two")
            (src / "dir").mkdir()
            (src / "dir" / "inner.txt").write_text("inner")
            mlflow.log_artifact(str(src / "report.txt"))
            mlflow.log_artifacts(str(src / "dir"), artifact_path="dir")
            mlflow.log_dict({{"v": 2}}, "meta.json")
        client = MlflowClient()
        run = client.get_run(parent.info.run_id)
        kid = client.get_run(child.info.run_id)
        dst = pathlib.Path(tempfile.mkdtemp())
        client.download_artifacts(parent.info.run_id, "dir", str(dst))
        found = mlflow.search_runs(experiment_ids=[exp.experiment_id], filter_string="tags.team = 'red'",
                                   output_format="list")
        emit({{
            "version": mlflow.__version__,
            "exp_id": exp.experiment_id,
            "parent_id": parent.info.run_id,
            "status": [run.info.status, kid.info.status],
            "params": run.data.params,
            "metrics": run.data.metrics,
            "tags": [run.data.tags.get("team"), run.data.tags.get("stage"), run.data.tags.get("mlflow.runName")],
            "kid": [kid.info.run_name, kid.data.tags.get("mlflow.parentRunId"), kid.data.metrics],
            "history": [[m.step, m.value] for m in client.get_metric_history(parent.info.run_id, "loss")],
            "artifacts": [[f.path, f.is_dir, f.file_size] for f in client.list_artifacts(parent.info.run_id)],
            "downloaded": (dst / "dir" / "inner.txt").read_text(),
            "meta": mlflow.artifacts.load_dict(f"runs:/{{parent.info.run_id}}/meta.json"),
            "found": [r.info.run_name for r in found],
        }})
        """
    )
    assert got["version"].startswith("2.")
    assert got["status"] == ["FINISHED", "FINISHED"]
    assert got["params"] == {"alpha": "0.5", "beta": "2", "gamma": "g"}
    assert got["metrics"] == {"loss": 7.0, "acc": 0.8}
    assert got["tags"] == ["red", "prod", "parent"]
    assert got["kid"] == ["child", got["parent_id"], {"score": 3.0}]
    assert got["history"] == [[0, 10.0], [1, 9.0], [2, 8.0], [3, 7.0]]
    assert got["artifacts"] == [["dir", True, None], ["meta.json", False, 12], ["report.txt", False, 3]]
    assert got["downloaded"] == "inner"
    assert got["meta"] == {"v": 2}
    assert got["found"] == ["parent"]
    stored = compat_server.services.tracking.store.get_run(got["parent_id"])
    assert stored.data.params == got["params"]


def test_mlflow2_client_search_paging_batches_and_lifecycle(mlflow2, unique):
    got = mlflow2.run(
        f"""
        from mlflow.entities import Metric, Param, RunTag, ViewType
        client = MlflowClient()
        exp_id = client.create_experiment({unique!r}, tags={{"v": "2"}})
        exps = client.search_experiments(filter_string="tags.v = '2' AND name = '{unique}'")
        ids = []
        for i in range(5):
            run = client.create_run(exp_id, run_name=f"run-{{i}}")
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("m", float(i), 1000, 0), Metric("m", float(i) + 0.5, 1001, 1)],
                params=[Param("i", str(i))],
                tags=[RunTag("even", str(i % 2 == 0))],
            )
            ids.append(run.info.run_id)
        pages, token = [], None
        while True:
            page = client.search_runs([exp_id], order_by=["params.i ASC"], max_results=2, page_token=token)
            pages.append([r.info.run_name for r in page])
            token = page.token
            if not token:
                break
        client.delete_run(ids[1])
        deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
        client.restore_run(ids[1])
        client.set_terminated(ids[2], "FAILED")
        emit({{
            "exps": [[e.experiment_id, e.tags] for e in exps],
            "exp_id": exp_id,
            "pages": pages,
            "latest": client.get_run(ids[3]).data.metrics,
            "history": [[m.step, m.value] for m in client.get_metric_history(ids[3], "m")],
            "even": [r.info.run_name for r in client.search_runs([exp_id], "tags.even = 'True'",
                                                                  order_by=["metrics.m DESC"])],
            "deleted": [r.info.run_name for r in deleted],
            "restored": len(client.search_runs([exp_id])),
            "failed": client.get_run(ids[2]).info.status,
            "missing": error_code(client.get_experiment, "987654321"),
        }})
        """
    )
    assert got["exps"] == [[got["exp_id"], {"v": "2"}]]
    assert got["pages"] == [["run-0", "run-1"], ["run-2", "run-3"], ["run-4"]]
    assert got["latest"] == {"m": 3.5}
    assert got["history"] == [[0, 3.0], [1, 3.5]]
    assert got["even"] == ["run-4", "run-2", "run-0"]
    assert got["deleted"] == ["run-1"]
    assert got["restored"] == 5
    assert got["failed"] == "FAILED"
    assert got["missing"] == "RESOURCE_DOES_NOT_EXIST"
