"""Conformance: dataset inputs (log_inputs), on every store backend."""

from __future__ import annotations

import pytest

from modelyard.entities import Dataset, DatasetInput, InputTag
from modelyard.exceptions import InvalidParameterValue
from modelyard.store.tracking.base import TrackingStore

CONTEXT = "mlflow.data.context"
IRIS = Dataset("iris", "abc123", "local", '{"uri": "/data/iris.csv"}', '{"mlflow_colspec": []}', '{"num_rows": 150}')
WINE = Dataset("wine", "def456", "http", '{"url": "https://example.com/wine.csv"}')


@pytest.fixture
def run_id(store: TrackingStore) -> str:
    return store.create_run("0", "u", 0).info.run_id


def test_log_inputs_round_trip(store: TrackingStore, run_id: str) -> None:
    train = DatasetInput(IRIS, (InputTag("extra", "é🚀"), InputTag(CONTEXT, "train")))  # tags come back by key
    store.log_inputs(run_id, [train, DatasetInput(WINE)])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert inputs == (train, DatasetInput(WINE))
    assert inputs[1].dataset.schema is None and inputs[1].dataset.profile is None


def test_log_inputs_is_idempotent(store: TrackingStore, run_id: str) -> None:
    train = DatasetInput(IRIS, (InputTag(CONTEXT, "train"),))
    store.log_inputs(run_id, [train])
    store.log_inputs(run_id, [train])
    store.log_inputs(run_id, [train, train])
    assert store.get_run(run_id).inputs.dataset_inputs == (train,)


def test_same_dataset_in_two_runs(store: TrackingStore, run_id: str) -> None:
    other = store.create_run("0", "u", 0).info.run_id
    store.log_inputs(run_id, [DatasetInput(IRIS, (InputTag(CONTEXT, "train"),))])
    store.log_inputs(other, [DatasetInput(IRIS, (InputTag(CONTEXT, "eval"),))])
    assert store.get_run(run_id).inputs.dataset_inputs[0].tags == (InputTag(CONTEXT, "train"),)
    assert store.get_run(other).inputs.dataset_inputs[0].tags == (InputTag(CONTEXT, "eval"),)


def test_same_dataset_name_other_digest(store: TrackingStore, run_id: str) -> None:
    v2 = Dataset("iris", "zzz999", "local", "{}")
    store.log_inputs(run_id, [DatasetInput(IRIS), DatasetInput(v2)])
    assert [d.dataset.digest for d in store.get_run(run_id).inputs.dataset_inputs] == ["abc123", "zzz999"]


def test_log_inputs_empty(store: TrackingStore, run_id: str) -> None:
    store.log_inputs(run_id, [])
    assert store.get_run(run_id).inputs.dataset_inputs == ()


def test_large_dataset_fields(store: TrackingStore, run_id: str) -> None:
    big = Dataset("big", "d" * 36, "local", "é" * 65_535, "s" * 100_000, "p" * 100_000)
    store.log_inputs(run_id, [DatasetInput(big)])
    assert store.get_run(run_id).inputs.dataset_inputs[0].dataset == big


@pytest.mark.parametrize(
    "bad",
    [
        DatasetInput(Dataset("", "abc", "local", "{}")),
        DatasetInput(Dataset("x", "", "local", "{}")),
        DatasetInput(Dataset("n" * 501, "abc", "local", "{}")),
        DatasetInput(Dataset("x", "d" * 37, "local", "{}")),
        DatasetInput(Dataset("x", "abc", "local", "s" * 65_536)),
        DatasetInput(IRIS, (InputTag("k" * 256, "v"),)),
        DatasetInput(IRIS, (InputTag("k", "v" * 501),)),
        DatasetInput(IRIS, (InputTag("", "v"),)),
    ],
    ids=["no-name", "no-digest", "long-name", "long-digest", "long-source", "long-tag-key", "long-tag-value", "no-tag-key"],
)
def test_invalid_inputs_write_nothing(store: TrackingStore, run_id: str, bad: DatasetInput) -> None:
    with pytest.raises(InvalidParameterValue):
        store.log_inputs(run_id, [DatasetInput(WINE), bad])
    assert store.get_run(run_id).inputs.dataset_inputs == ()


def test_too_many_datasets(store: TrackingStore, run_id: str) -> None:
    many = [DatasetInput(Dataset(f"d{i}", "abc", "local", "{}")) for i in range(1001)]
    with pytest.raises(InvalidParameterValue):
        store.log_inputs(run_id, many)
    assert store.get_run(run_id).inputs.dataset_inputs == ()


def test_search_datasets_lists_each_dataset_and_context_once(store: TrackingStore, run_id: str) -> None:
    from modelyard.entities import DatasetSummary

    other_exp = store.create_experiment("datasets-elsewhere")
    other_run = store.create_run(other_exp, "u", 0).info.run_id
    second = store.create_run("0", "u", 0).info.run_id
    store.log_inputs(run_id, [DatasetInput(IRIS, (InputTag(CONTEXT, "train"),)), DatasetInput(WINE)])
    store.log_inputs(second, [DatasetInput(IRIS, (InputTag(CONTEXT, "train"),))])  # the same summary again
    store.log_inputs(other_run, [DatasetInput(IRIS, (InputTag(CONTEXT, "eval"),))])
    found = store.search_datasets(["0"])
    assert sorted(found, key=lambda d: d.name) == [
        DatasetSummary("0", "iris", "abc123", "train"),
        DatasetSummary("0", "wine", "def456", None),
    ]
    both = store.search_datasets(["0", other_exp, "404", "not-a-number", str(2**70)])  # unknown ids add nothing
    assert sorted((d.experiment_id, d.context or "") for d in both) == sorted(
        [("0", "train"), ("0", ""), (other_exp, "eval")]
    )
    with pytest.raises(InvalidParameterValue, match="at least one experiment_id"):
        store.search_datasets([])
    with pytest.raises(InvalidParameterValue, match="more than 20 experiment_ids"):
        store.search_datasets([str(i) for i in range(21)])
