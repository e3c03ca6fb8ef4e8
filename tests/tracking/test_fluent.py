"""The fluent API end to end on the embedded store."""

import asyncio
import json
import math
import threading

import pytest

import modelyard as my
from modelyard.entities import Dataset, Metric, Param, RunTag
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist


def test_the_issue_example(tracking, tmp_path):
    report = tmp_path / "report.html"
    report.write_text("<h1>report</h1>")
    my.set_experiment("churn")
    with my.start_run(run_name="baseline") as run:
        my.log_params({"C": 0.1, "penalty": "l2"})
        for epoch in range(10):
            my.log_metric("loss", 1 / (epoch + 1), step=epoch)
        my.set_tag("team", "growth")
        my.log_dict({"features": ["a", "b"]}, "config.json")
        my.log_artifact(str(report))
    with my.start_run(run_name="other"):
        my.log_params({"C": 1.0, "penalty": "l1"})
        my.log_metric("loss", 0.5)
    df = my.search_runs(
        experiment_names=["churn"],
        filter_string="metrics.loss < 0.2 and (params.C = '0.1' or tags.team = 'growth')",
        order_by=["metrics.loss ASC"],
    )
    assert list(df["run_id"]) == [run.info.run_id]
    assert df.loc[0, "metrics.loss"] == pytest.approx(0.1)
    assert df.loc[0, "params.C"] == "0.1"
    assert df.loc[0, "tags.mlflow.runName"] == "baseline"
    assert df.loc[0, "status"] == "FINISHED"
    assert str(df["start_time"].dtype).startswith("datetime64")
    stored = my.get_run(run.info.run_id)
    assert stored.data.params == {"C": "0.1", "penalty": "l2"}
    assert stored.data.tags["team"] == "growth"
    assert stored.info.end_time >= stored.info.start_time
    history = my.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(10))
    names = sorted(f.path for f in my.list_artifacts(run.info.run_id))
    assert names == ["config.json", "report.html"]
    local = my.download_artifacts(run_id=run.info.run_id, artifact_path="config.json", dst_path=str(tmp_path / "dl"))
    assert json.loads(open(local).read()) == {"features": ["a", "b"]}


def test_search_runs_list_output_and_default_experiment(tracking):
    with my.start_run() as run:
        my.log_metric("x", 1.0)
    found = my.search_runs(output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert found[0].info.experiment_id == "0"
    with pytest.raises(InvalidParameterValue):
        my.search_runs(output_format="xml")
    with pytest.raises(ResourceDoesNotExist):
        my.search_runs(experiment_names=["nope"])


def test_nested_runs_and_parent_tag(tracking):
    with my.start_run(run_name="parent") as parent:
        with my.start_run(run_name="child", nested=True) as child:
            assert my.active_run().info.run_id == child.info.run_id
        assert my.active_run().info.run_id == parent.info.run_id
    assert my.active_run() is None
    child_run = my.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert my.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert my.last_active_run().info.run_id == parent.info.run_id


def test_second_run_without_nested_is_refused(tracking):
    with my.start_run():
        with pytest.raises(InvalidParameterValue, match="already active"):
            my.start_run()


def test_failed_status_on_exception_and_killed_on_interrupt(tracking):
    with pytest.raises(RuntimeError):
        with my.start_run() as run:
            raise RuntimeError("boom")
    assert my.get_run(run.info.run_id).info.status == "FAILED"
    with pytest.raises(KeyboardInterrupt):
        with my.start_run() as run2:
            raise KeyboardInterrupt
    assert my.get_run(run2.info.run_id).info.status == "KILLED"


def test_logging_without_a_run_starts_one(tracking):
    my.log_metric("m", 2.0)
    run = my.active_run()
    assert run is not None
    my.end_run()
    assert my.get_run(run.info.run_id).data.metrics == {"m": 2.0}


def test_resume_run_by_id(tracking):
    with my.start_run() as run:
        my.log_param("a", 1)
    with my.start_run(run_id=run.info.run_id):
        my.log_param("b", 2)
    assert my.get_run(run.info.run_id).data.params == {"a": "1", "b": "2"}


def test_active_run_is_per_thread(tracking):
    seen = {}
    with my.start_run() as run:
        def worker():
            seen["active"] = my.active_run()
            with my.start_run() as own:
                my.log_metric("t", 1.0)
                seen["own"] = own.info.run_id
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert my.active_run().info.run_id == run.info.run_id
    assert seen["active"] is None
    assert seen["own"] != run.info.run_id


def test_asyncio_tasks_do_not_leak_runs(tracking):
    async def task(name):
        with my.start_run(run_name=name) as r:
            await asyncio.sleep(0.01)
            assert my.active_run().info.run_id == r.info.run_id
            return r.info.run_id

    async def main():
        return await asyncio.gather(task("a"), task("b"))

    ids = asyncio.run(main())
    assert len(set(ids)) == 2
    assert my.active_run() is None


def test_params_are_immutable_through_the_fluent_api(tracking):
    with my.start_run():
        my.log_param("lr", 0.1)
        my.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(InvalidParameterValue, match="lr"):
            my.log_param("lr", 0.2)


def test_nan_and_inf_round_trip(tracking):
    with my.start_run() as run:
        my.log_metric("nan", float("nan"))
        my.log_metric("pinf", float("inf"))
        my.log_metric("ninf", float("-inf"))
    m = my.get_run(run.info.run_id).data.metrics
    assert math.isnan(m["nan"]) and m["pinf"] == math.inf and m["ninf"] == -math.inf


def test_client_log_batch_splits_large_batches(tracking):
    client = my.MlflowClient()
    exp = client.create_experiment("batches")
    run = client.create_run(exp)
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(150)]
    tags = [RunTag(f"t{i}", "v") for i in range(120)]
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
    got = client.get_run(run.info.run_id)
    assert len(got.data.params) == 150 and len(got.data.tags) >= 120
    assert len(client.get_metric_history(run.info.run_id, "m")) == 2500
    assert got.data.metrics["m"] == 2499.0


def test_long_values_are_truncated_by_the_client(tracking):
    with my.start_run() as run:
        my.log_param("long", "x" * 7000)
        my.set_tag("long", "y" * 9000)
    got = my.get_run(run.info.run_id).data
    assert len(got.params["long"]) == 6000 and len(got.tags["long"]) == 8000


def test_log_text_dict_yaml_and_figure(tracking, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with my.start_run() as run:
        my.log_text("hello", "notes/hello.txt")
        my.log_dict({"a": 1}, "conf.yaml")
        my.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    client = my.MlflowClient()
    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["conf.yaml", "notes", "plots"]
    d = client.download_artifacts(run.info.run_id, "", str(tmp_path / "all"))
    assert open(f"{d}/notes/hello.txt").read() == "hello"
    assert open(f"{d}/conf.yaml").read().strip() == "a: 1"
    assert open(f"{d}/plots/curve.png", "rb").read(4) == b"\x89PNG"


def test_log_input_dataset(tracking):
    ds = Dataset(name="train", digest="abc123", source_type="local", source="/data/train.csv", schema="{}")
    with my.start_run() as run:
        my.log_input(ds, context="training")
    inputs = my.get_run(run.info.run_id).inputs.dataset_inputs
    assert inputs[0].dataset.name == "train"
    assert {(t.key, t.value) for t in inputs[0].tags} == {("mlflow.data.context", "training")}


def test_set_experiment_rules(tracking):
    with pytest.raises(InvalidParameterValue):
        my.set_experiment()
    exp = my.set_experiment("gone")
    my.delete_experiment(exp.experiment_id)
    with pytest.raises(InvalidParameterValue, match="deleted experiment"):
        my.set_experiment("gone")
    again = my.set_experiment(experiment_id="0")
    assert again.name == "Default"


def test_tracking_uri_precedence(tmp_path, monkeypatch):
    from modelyard.settings import Settings
    from modelyard.tracking.stores import resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(None, Settings.defaults()) == f"sqlite:///{tmp_path / 'modelyard.db'}"
    s = Settings.from_env({"MLFLOW_TRACKING_URI": "sqlite:///m.db"})
    assert resolve_tracking_uri(None, s) == "sqlite:///m.db"
    s = Settings.from_env({"MLFLOW_TRACKING_URI": "sqlite:///m.db", "MODELYARD_TRACKING_URI": "sqlite:///y.db"})
    assert resolve_tracking_uri(None, s) == "sqlite:///y.db"
    assert resolve_tracking_uri("sqlite:///arg.db", s) == "sqlite:///arg.db"
    assert resolve_tracking_uri("runs.db", Settings.defaults()) == f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(InvalidParameterValue, match="sqlite:///"):
        resolve_tracking_uri("./mlruns", Settings.defaults())
