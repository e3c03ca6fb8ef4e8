"""Conformance: experiments (MLflow semantics), on every store backend."""

from __future__ import annotations

import pytest

from modelyard.entities import RunStatus
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.store.tracking.base import TrackingStore


def test_default_experiment_exists(store: TrackingStore) -> None:
    exp = store.get_experiment("0")
    assert exp.experiment_id == "0"
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location.endswith("/0")
    assert store.get_experiment_by_name("Default") == exp


def test_create_and_get_experiment(store: TrackingStore) -> None:
    exp_id = store.create_experiment("first", tags={"team": "vision", "note": "é ✓ 🚀"})
    assert isinstance(exp_id, str) and exp_id != "0"
    exp = store.get_experiment(exp_id)
    assert (exp.experiment_id, exp.name, exp.lifecycle_stage) == (exp_id, "first", "active")
    assert exp.tags == {"team": "vision", "note": "é ✓ 🚀"}
    assert exp.artifact_location.endswith(f"/{exp_id}")
    assert exp.creation_time is not None and exp.creation_time == exp.last_update_time
    assert store.get_experiment_by_name("first") == exp


def test_create_experiment_with_artifact_location(store: TrackingStore) -> None:
    exp_id = store.create_experiment("located", artifact_location="s3://bucket/somewhere")
    assert store.get_experiment(exp_id).artifact_location == "s3://bucket/somewhere"


def test_experiment_ids_are_distinct(store: TrackingStore) -> None:
    ids = [store.create_experiment(f"e{i}") for i in range(5)]
    assert len(set(ids)) == 5 and "0" not in ids


def test_get_experiment_by_name_absent_is_none(store: TrackingStore) -> None:
    assert store.get_experiment_by_name("nope") is None


def test_duplicate_experiment_name(store: TrackingStore) -> None:
    store.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExists, match="dup"):
        store.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExists):
        store.create_experiment("Default")


def test_duplicate_name_of_deleted_experiment(store: TrackingStore) -> None:
    exp_id = store.create_experiment("gone")
    store.delete_experiment(exp_id)
    with pytest.raises(ResourceAlreadyExists):
        store.create_experiment("gone")
    assert store.get_experiment_by_name("gone").lifecycle_stage == "deleted"


def test_experiment_names_are_exact(store: TrackingStore) -> None:
    """Names differing in case or a trailing space are different names, on every backend."""
    ids = {name: store.create_experiment(name) for name in ("Exp", "exp", "EXP", "exp ")}
    assert len(set(ids.values())) == 4
    for name, exp_id in ids.items():
        assert store.get_experiment_by_name(name).experiment_id == exp_id
    assert store.get_experiment_by_name("eXp") is None


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 501])
def test_invalid_experiment_name(store: TrackingStore, name) -> None:
    with pytest.raises(InvalidParameterValue):
        store.create_experiment(name)


def test_invalid_experiment_tag_creates_nothing(store: TrackingStore) -> None:
    with pytest.raises(InvalidParameterValue):
        store.create_experiment("tagged", tags={"ok": "1", "bad/../key": "2"})
    assert store.get_experiment_by_name("tagged") is None


def test_experiment_name_at_limit(store: TrackingStore) -> None:
    exp_id = store.create_experiment("n" * 500)
    assert store.get_experiment(exp_id).name == "n" * 500


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1", "", "1; DROP TABLE runs", "99999999999999999999999"])
def test_invalid_experiment_id(store: TrackingStore, bad_id: str) -> None:
    with pytest.raises(InvalidParameterValue):
        store.get_experiment(bad_id)


def test_unknown_experiment_id(store: TrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExist):
        store.get_experiment("123456")
    for call in (
        lambda: store.delete_experiment("123456"),
        lambda: store.restore_experiment("123456"),
        lambda: store.rename_experiment("123456", "x"),
        lambda: store.set_experiment_tag("123456", "k", "v"),
        lambda: store.create_run("123456", "u", None),
    ):
        with pytest.raises(ResourceDoesNotExist):
            call()


def test_rename_experiment(store: TrackingStore) -> None:
    exp_id = store.create_experiment("old")
    store.rename_experiment(exp_id, "new")
    assert store.get_experiment(exp_id).name == "new"
    assert store.get_experiment_by_name("old") is None
    assert store.get_experiment_by_name("new").experiment_id == exp_id
    store.create_experiment("old")  # the old name is free again


def test_rename_experiment_to_taken_name(store: TrackingStore) -> None:
    exp_id = store.create_experiment("a")
    store.create_experiment("b")
    with pytest.raises(ResourceAlreadyExists, match="b"):
        store.rename_experiment(exp_id, "b")
    assert store.get_experiment(exp_id).name == "a"


def test_rename_experiment_invalid_name(store: TrackingStore) -> None:
    exp_id = store.create_experiment("a")
    with pytest.raises(InvalidParameterValue):
        store.rename_experiment(exp_id, "")


def test_rename_deleted_experiment_refused(store: TrackingStore) -> None:
    exp_id = store.create_experiment("a")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue):
        store.rename_experiment(exp_id, "b")


def test_delete_and_restore_experiment_cascade_to_runs(store: TrackingStore) -> None:
    exp_id = store.create_experiment("cascade")
    kept = store.create_run(exp_id, "u", None).info.run_id
    already_deleted = store.create_run(exp_id, "u", None).info.run_id
    other = store.create_run("0", "u", None).info.run_id
    store.delete_run(already_deleted)

    store.delete_experiment(exp_id)
    exp = store.get_experiment(exp_id)  # deleted experiments are still returned
    assert exp.lifecycle_stage == "deleted"
    assert exp.last_update_time >= exp.creation_time
    assert store.get_run(kept).info.lifecycle_stage == "deleted"
    assert store.get_run(already_deleted).info.lifecycle_stage == "deleted"
    assert store.get_run(other).info.lifecycle_stage == "active"
    with pytest.raises(InvalidParameterValue):
        store.create_run(exp_id, "u", None)

    store.restore_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == "active"
    assert store.get_run(kept).info.lifecycle_stage == "active"
    assert store.get_run(already_deleted).info.lifecycle_stage == "active"  # as MLflow: all runs
    store.create_run(exp_id, "u", None)


def test_delete_experiment_keeps_run_status(store: TrackingStore) -> None:
    exp_id = store.create_experiment("status")
    run_id = store.create_run(exp_id, "u", None).info.run_id
    store.update_run_info(run_id, RunStatus.FINISHED, end_time=5)
    store.delete_experiment(exp_id)
    assert store.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("default_id", ["0", 0, "00"])
def test_cannot_delete_default_experiment(store: TrackingStore, default_id) -> None:
    with pytest.raises(InvalidParameterValue):
        store.delete_experiment(default_id)
    assert store.get_experiment("0").lifecycle_stage == "active"


def test_experiment_tags(store: TrackingStore) -> None:
    exp_id = store.create_experiment("tagged", tags={"a": "1"})
    store.set_experiment_tag(exp_id, "b", "2")
    store.set_experiment_tag(exp_id, "a", "changed")
    assert store.get_experiment(exp_id).tags == {"a": "changed", "b": "2"}
    store.delete_experiment_tag(exp_id, "a")
    assert store.get_experiment(exp_id).tags == {"b": "2"}
    with pytest.raises(ResourceDoesNotExist):
        store.delete_experiment_tag(exp_id, "a")


def test_experiment_tag_value_limit(store: TrackingStore) -> None:
    exp_id = store.create_experiment("long")
    store.set_experiment_tag(exp_id, "note", "x" * 20_000)
    assert store.get_experiment(exp_id).tags["note"] == "x" * 20_000
    with pytest.raises(InvalidParameterValue):
        store.set_experiment_tag(exp_id, "note", "x" * 20_001)
    with pytest.raises(InvalidParameterValue):
        store.set_experiment_tag(exp_id, "bad/../key", "v")


def test_experiment_tags_on_deleted_experiment_refused(store: TrackingStore) -> None:
    exp_id = store.create_experiment("t", tags={"a": "1"})
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue):
        store.set_experiment_tag(exp_id, "b", "2")
    with pytest.raises(InvalidParameterValue):
        store.delete_experiment_tag(exp_id, "a")
