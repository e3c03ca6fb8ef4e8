"""Conformance: run lifecycle (create, get, update, delete, restore), on every store backend."""

from __future__ import annotations

import re
import time

import pytest

from modelyard.entities import Metric, Param, RunStatus, RunTag, ViewType
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.tracking.base import RunRecord, TrackingStore

RUN_NAME = "mlflow.runName"


def test_create_run_defaults(store: TrackingStore) -> None:
    before = int(time.time() * 1000)
    run = store.create_run("0", "alice", None)
    info = run.info
    assert re.fullmatch(r"[0-9a-f]{32}", info.run_id)
    assert info.run_uuid == info.run_id
    assert (info.experiment_id, info.user_id, info.status, info.lifecycle_stage) == (
        "0",
        "alice",
        "RUNNING",
        "active",
    )
    assert before <= info.start_time <= int(time.time() * 1000)
    assert info.end_time is None
    assert info.artifact_uri == f"{store.get_experiment('0').artifact_location}/{info.run_id}/artifacts"
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", info.run_name)
    assert run.data.tags == {RUN_NAME: info.run_name}
    assert run.data.metrics == {} and run.data.params == {}


def test_create_run_round_trips(store: TrackingStore) -> None:
    exp_id = store.create_experiment("runs")
    run = store.create_run(exp_id, "bob", 1234, tags=[RunTag("a", "1"), RunTag("b", "é🚀")], run_name="mine")
    got = store.get_run(run.info.run_id)
    assert got.info == run.info
    assert got.info.start_time == 1234 and got.info.run_name == "mine"
    assert got.data.tags == {"a": "1", "b": "é🚀", RUN_NAME: "mine"} == run.data.tags


def test_generated_run_names_differ(store: TrackingStore) -> None:
    names = {store.create_run("0", "u", None).info.run_name for _ in range(5)}
    assert len(names) > 1


def test_run_name_from_tag(store: TrackingStore) -> None:
    run = store.create_run("0", "u", None, tags=[RunTag(RUN_NAME, "from-tag")])
    assert run.info.run_name == "from-tag"
    assert store.get_run(run.info.run_id).info.run_name == "from-tag"


def test_run_name_and_same_tag(store: TrackingStore) -> None:
    run = store.create_run("0", "u", None, tags=[RunTag(RUN_NAME, "same")], run_name="same")
    assert run.info.run_name == "same" and run.data.tags[RUN_NAME] == "same"


def test_run_name_conflicting_with_tag(store: TrackingStore) -> None:
    with pytest.raises(InvalidParameterValue, match="runName"):
        store.create_run("0", "u", None, tags=[RunTag(RUN_NAME, "tag-name")], run_name="arg-name")
    assert not store.search_runs(["0"], run_view_type=ViewType.ALL)


def test_create_run_invalid_tag_writes_nothing(store: TrackingStore) -> None:
    with pytest.raises(InvalidParameterValue):
        store.create_run("0", "u", None, tags=[RunTag("ok", "1"), RunTag("bad/../key", "2")])
    assert not store.search_runs(["0"], run_view_type=ViewType.ALL)


def test_create_run_in_deleted_experiment(store: TrackingStore) -> None:
    exp_id = store.create_experiment("deleted")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue):
        store.create_run(exp_id, "u", None)


def test_create_run_invalid_experiment_id(store: TrackingStore) -> None:
    with pytest.raises(InvalidParameterValue):
        store.create_run("not-a-number", "u", None)


@pytest.mark.parametrize("run_id", ["0" * 32, "deadbeef", "x" * 40])
def test_get_unknown_run(store: TrackingStore, run_id: str) -> None:
    with pytest.raises(ResourceDoesNotExist):
        store.get_run(run_id)


def test_get_run_empty_id(store: TrackingStore) -> None:
    with pytest.raises(InvalidParameterValue):
        store.get_run("")


def test_update_run_info(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", 100).info.run_id
    info = store.update_run_info(run_id, RunStatus.FINISHED, end_time=200, run_name="renamed")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 200, "renamed")
    got = store.get_run(run_id)
    assert got.info == info
    assert got.data.tags[RUN_NAME] == "renamed"


def test_update_run_info_partial(store: TrackingStore) -> None:
    run = store.create_run("0", "u", 100, run_name="keep")
    info = store.update_run_info(run.info.run_id, "KILLED")
    assert (info.status, info.end_time, info.run_name) == ("KILLED", None, "keep")
    info = store.update_run_info(run.info.run_id, end_time=300)
    assert (info.status, info.end_time) == ("KILLED", 300)


def test_update_run_info_invalid_status(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    with pytest.raises(InvalidParameterValue):
        store.update_run_info(run_id, "DONE")
    assert store.get_run(run_id).info.status == "RUNNING"


def test_update_unknown_run(store: TrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExist):
        store.update_run_info("0" * 32, "FINISHED")


def test_set_tag_run_name_renames_run(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    store.set_tag(run_id, RunTag(RUN_NAME, "via-tag"))
    assert store.get_run(run_id).info.run_name == "via-tag"


def test_delete_and_restore_run(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"  # still readable
    store.restore_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "active"
    store.log_metric(run_id, Metric("m", 1.0, 1, 0))


def test_delete_unknown_run(store: TrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExist):
        store.delete_run("0" * 32)
    with pytest.raises(ResourceDoesNotExist):
        store.restore_run("0" * 32)


def test_deleted_run_refuses_writes(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", None, tags=[RunTag("t", "1")]).info.run_id
    store.delete_run(run_id)
    writes = {
        "log_metric": lambda: store.log_metric(run_id, Metric("m", 1.0, 1, 0)),
        "log_param": lambda: store.log_param(run_id, Param("p", "1")),
        "set_tag": lambda: store.set_tag(run_id, RunTag("t", "2")),
        "delete_tag": lambda: store.delete_tag(run_id, "t"),
        "log_batch": lambda: store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)]),
        "empty log_batch": lambda: store.log_batch(run_id),
        "update_run_info": lambda: store.update_run_info(run_id, "FINISHED"),
        "log_inputs": lambda: store.log_inputs(run_id, []),
    }
    for what, write in writes.items():
        with pytest.raises(InvalidParameterValue, match="active"):
            write()
            pytest.fail(f"{what} wrote to a deleted run")
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and data.tags["t"] == "1"


def test_finished_run_accepts_writes(store: TrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    store.update_run_info(run_id, "FINISHED", end_time=10)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")], tags=[RunTag("t", "v")])
    data = store.get_run(run_id).data
    assert data.metrics == {"m": 1.0} and data.params == {"p": "1"} and data.tags["t"] == "v"


def test_writes_to_unknown_run(store: TrackingStore) -> None:
    unknown = "0" * 32
    for write in (
        lambda: store.log_metric(unknown, Metric("m", 1.0, 1, 0)),
        lambda: store.log_batch(unknown),
        lambda: store.delete_tag(unknown, "t"),
        lambda: store.log_inputs(unknown, []),
    ):
        with pytest.raises(ResourceDoesNotExist):
            write()


def test_record_run_stores_a_finished_run_with_its_data(store: TrackingStore) -> None:
    exp_id = store.create_experiment("recorded")
    run = store.record_run(
        exp_id, "carol", 1000, 2500, "FINISHED", tags=[RunTag("trial", "3")], run_name="lasso-3",
        params=[Param("alpha", "0.1"), Param("model", "lasso")],
        metrics=[Metric("val_r2", 0.5, 2500, 0), Metric("test_r2", 0.25, 2500, 0)],
    )
    got = store.get_run(run.info.run_id)
    assert got.info == run.info
    assert (got.info.status, got.info.start_time, got.info.end_time, got.info.user_id) == ("FINISHED", 1000, 2500, "carol")
    assert got.info.run_name == "lasso-3" and got.data.tags == {"trial": "3", RUN_NAME: "lasso-3"} == run.data.tags
    assert got.data.params == {"alpha": "0.1", "model": "lasso"} == run.data.params
    assert got.data.metrics == {"val_r2": 0.5, "test_r2": 0.25} == run.data.metrics
    assert [m.step for m in store.get_metric_history(run.info.run_id, "val_r2")] == [0]
    # a recorded run is a run like any other: more can be logged to it
    store.log_batch(run.info.run_id, tags=[RunTag("model_uri", "models:/m-1")])
    assert store.get_run(run.info.run_id).data.tags["model_uri"] == "models:/m-1"


def test_record_run_with_bad_data_writes_nothing(store: TrackingStore) -> None:
    exp_id = store.create_experiment("recorded-bad")
    with pytest.raises(InvalidParameterValue):
        store.record_run(exp_id, "u", 1, 2, "FAILED", params=[Param("p", "1"), Param("p", "2")])
    with pytest.raises(InvalidParameterValue):
        store.record_run(exp_id, "u", 1, 2, "KILLED", metrics=[Metric("", 1.0, 0, 0)])
    assert list(store.search_runs([exp_id], run_view_type=ViewType.ALL)) == []
    with pytest.raises(ResourceDoesNotExist):
        store.record_run("123456", "u", 1, 2, "FINISHED")


def test_record_runs_stores_each_run_in_order(store: TrackingStore) -> None:
    exp_id = store.create_experiment("recorded-many")
    records = [
        RunRecord(exp_id, "carol", 10 * i, 10 * i + 5, status, [RunTag("trial", str(i))], f"t-{i}",
                  [Param("i", str(i))], [Metric("val_r2", i / 10, 10 * i + 5, 0)] if status == "FINISHED" else [])
        for i, status in enumerate(["FINISHED", "KILLED", "FINISHED"])
    ]
    runs = store.record_runs(records)
    assert [r.info.run_name for r in runs] == ["t-0", "t-1", "t-2"]
    for i, run in enumerate(runs):
        got = store.get_run(run.info.run_id)
        assert (got.info.status, got.info.end_time, got.data.params) == (records[i].status, 10 * i + 5, {"i": str(i)})
    assert store.get_run(runs[2].info.run_id).data.metrics == {"val_r2": 0.2}
