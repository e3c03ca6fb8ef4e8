"""Conformance: metrics, params, tags and batches logged to runs, on every store backend."""

from __future__ import annotations

import math
import sys
import threading

import numpy as np
import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.tracking.base import TrackingStore


@pytest.fixture
def run_id(store: TrackingStore) -> str:
    return store.create_run("0", "u", 0).info.run_id


def history(store: TrackingStore, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, key)]


def latest(store: TrackingStore, run_id: str, key: str) -> Metric:
    (metric,) = [m for m in store.get_run(run_id).data.metric_objs if m.key == key]
    return metric


# -- params -------------------------------------------------------------------------------
def test_log_param(store: TrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.01"))
    store.log_param(run_id, Param("empty", ""))
    assert store.get_run(run_id).data.params == {"lr": "0.01", "empty": ""}


def test_param_same_value_again_is_ok(store: TrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.01"))
    store.log_param(run_id, Param("lr", "0.01"))
    store.log_batch(run_id, params=[Param("lr", "0.01"), Param("new", "x")])
    assert store.get_run(run_id).data.params == {"lr": "0.01", "new": "x"}


def test_param_is_immutable(store: TrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.01"))
    with pytest.raises(InvalidParameterValue, match="'lr'") as caught:
        store.log_param(run_id, Param("lr", "0.02"))
    assert "0.01" in caught.value.message and "0.02" in caught.value.message
    assert store.get_run(run_id).data.params == {"lr": "0.01"}


def test_params_are_per_run(store: TrackingStore, run_id: str) -> None:
    other = store.create_run("0", "u", 0).info.run_id
    store.log_param(run_id, Param("lr", "1"))
    store.log_param(other, Param("lr", "2"))
    assert store.get_run(other).data.params == {"lr": "2"}


def test_param_keys_are_exact(store: TrackingStore, run_id: str) -> None:
    """Keys differing in case or trailing spaces are distinct keys on every backend."""
    params = [Param("lr", "1"), Param("LR", "2"), Param("lr ", "3")]
    store.log_batch(run_id, params=params)
    assert store.get_run(run_id).data.params == {p.key: p.value for p in params}
    store.set_tag(run_id, RunTag("t", "a"))
    store.set_tag(run_id, RunTag("t ", "b"))
    assert {k: v for k, v in store.get_run(run_id).data.tags.items() if k.startswith("t")} == {"t": "a", "t ": "b"}


def test_duplicate_param_keys_in_batch(store: TrackingStore, run_id: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Duplicate"):
        store.log_batch(run_id, params=[Param("a", "1"), Param("a", "1")])
    assert store.get_run(run_id).data.params == {}


def test_param_value_limit(store: TrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("long", "p" * 6000))
    store.log_param(run_id, Param("wide", "é" * 6000))  # characters, not bytes
    params = store.get_run(run_id).data.params
    assert params["long"] == "p" * 6000 and params["wide"] == "é" * 6000
    with pytest.raises(InvalidParameterValue, match="6000"):
        store.log_param(run_id, Param("too_long", "p" * 6001))


def test_tag_value_limit(store: TrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("long", "t" * 8000))
    store.set_tag(run_id, RunTag("wide", "🚀" * 8000))
    tags = store.get_run(run_id).data.tags
    assert tags["long"] == "t" * 8000 and tags["wide"] == "🚀" * 8000
    with pytest.raises(InvalidParameterValue, match="8000"):
        store.set_tag(run_id, RunTag("too_long", "t" * 8001))


# -- keys ----------------------------------------------------------------------------------
GOOD_KEYS = ["a", "a/b", "a b:c-d.e_f", "UPPER", "k" * 250, "ünïcode", "x.", "a./b"]
BAD_KEYS = ["", "a!b", "a\nb", "trailing\n", "a/../b", "/leading", "trailing/", "a//b", ".", "..", "../a", "k" * 251]


def test_valid_keys(store: TrackingStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[Metric(key, 1.0, 1, 0) for key in GOOD_KEYS],
        params=[Param(key, "v") for key in GOOD_KEYS],
        tags=[RunTag(key, "v") for key in GOOD_KEYS],
    )
    data = store.get_run(run_id).data
    for key in GOOD_KEYS:
        assert data.metrics[key] == 1.0 and data.params[key] == "v" and data.tags[key] == "v"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys(store: TrackingStore, run_id: str, key: str) -> None:
    for kind, entity in {"metrics": Metric(key, 1.0, 1, 0), "params": Param(key, "v"), "tags": RunTag(key, "v")}.items():
        with pytest.raises(InvalidParameterValue):
            store.log_batch(run_id, **{kind: [entity]})
            pytest.fail(f"{kind} key {key!r} accepted")
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and list(data.tags) == ["mlflow.runName"]


# -- metrics -------------------------------------------------------------------------------
def test_log_metric_round_trip(store: TrackingStore, run_id: str) -> None:
    store.log_metric(run_id, Metric("loss", 0.5, 1000, 3))
    assert latest(store, run_id, "loss") == Metric("loss", 0.5, 1000, 3)
    assert store.get_run(run_id).data.metrics == {"loss": 0.5}
    assert store.get_metric_history(run_id, "loss") == [Metric("loss", 0.5, 1000, 3, run_id)]


VALUES = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, -1e300, 0.1 + 0.2, 123456789.123456789, 7, 2**53 + 1]


def test_metric_values_round_trip(store: TrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric(f"m{i}", value, 5, 1) for i, value in enumerate(VALUES)])
    metrics = {m.key: m for m in store.get_run(run_id).data.metric_objs}
    for i, value in enumerate(VALUES):
        (point,) = store.get_metric_history(run_id, f"m{i}")
        for metric in (point, metrics[f"m{i}"]):
            assert (metric.timestamp, metric.step) == (5, 1)
            assert isinstance(metric.value, float)
            assert math.isnan(metric.value) if math.isnan(value) else metric.value == float(value), (value, metric)


def test_numpy_numbers_are_accepted(store: TrackingStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[Metric("f32", np.float32(0.5), np.int64(10), np.int64(3)), Metric("i", np.int32(4), 11, 0)],
        params=[Param("lr", np.float64(0.25))],  # type: ignore[arg-type]
    )
    run = store.get_run(run_id)
    assert run.data.metrics == {"f32": 0.5, "i": 4.0} and run.data.params == {"lr": "0.25"}
    (point,) = store.get_metric_history(run_id, "f32")
    assert (type(point.value), type(point.timestamp), type(point.step)) == (float, int, int)
    assert (point.value, point.timestamp, point.step) == (0.5, 10, 3)
    with pytest.raises(InvalidParameterValue):
        store.log_metric(run_id, Metric("b", np.bool_(True), 1, 0))  # type: ignore[arg-type]


def test_largest_finite_metric_value(store: TrackingStore, run_id: str) -> None:
    store.log_metric(run_id, Metric("m", sys.float_info.max * 0.5, 5, 1))
    assert latest(store, run_id, "m").value == sys.float_info.max * 0.5


def test_metric_value_must_be_a_number(store: TrackingStore, run_id: str) -> None:
    for value in (True, False, "1.0", None, [1.0]):
        with pytest.raises(InvalidParameterValue):
            store.log_metric(run_id, Metric("m", value, 1, 0))  # type: ignore[arg-type]
            pytest.fail(f"metric value {value!r} accepted")
    assert store.get_metric_history(run_id, "m") == []


def test_metric_timestamp_and_step_must_be_int64(store: TrackingStore, run_id: str) -> None:
    for timestamp, step in [(-1, 0), (1.5, 0), (True, 0), (1, 2.5), (2**63, 0), (1, 2**63), (1, "3"), (None, 0)]:
        with pytest.raises(InvalidParameterValue):
            store.log_metric(run_id, Metric("m", 1.0, timestamp, step))  # type: ignore[arg-type]
            pytest.fail(f"timestamp {timestamp!r} step {step!r} accepted")
    assert store.get_metric_history(run_id, "m") == []


def test_metric_step_extremes(store: TrackingStore, run_id: str) -> None:
    points = [Metric("m", 1.0, 0, -(2**63)), Metric("m", 2.0, 2**63 - 1, 2**63 - 1)]
    store.log_batch(run_id, metrics=points)
    assert history(store, run_id, "m") == [(1.0, 0, -(2**63)), (2.0, 2**63 - 1, 2**63 - 1)]


def test_latest_metric_is_max_step_then_timestamp(store: TrackingStore, run_id: str) -> None:
    store.log_metric(run_id, Metric("m", 5.0, 100, 5))
    store.log_metric(run_id, Metric("m", 3.0, 200, 3))  # later, but an earlier step
    assert latest(store, run_id, "m") == Metric("m", 5.0, 100, 5)
    store.log_metric(run_id, Metric("m", 6.0, 50, 5))  # same step, older timestamp
    assert latest(store, run_id, "m").value == 5.0
    store.log_metric(run_id, Metric("m", 7.0, 150, 5))  # same step, newer timestamp
    assert latest(store, run_id, "m") == Metric("m", 7.0, 150, 5)
    store.log_metric(run_id, Metric("m", -1.0, 0, 6))
    assert latest(store, run_id, "m") == Metric("m", -1.0, 0, 6)


def test_latest_metric_within_one_batch(store: TrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 5.0, 1, 5), Metric("m", 3.0, 2, 3), Metric("n", 1.0, 1, 0)])
    assert latest(store, run_id, "m") == Metric("m", 5.0, 1, 5)
    assert store.get_run(run_id).data.metrics == {"m": 5.0, "n": 1.0}


def test_latest_metric_nan_then_value(store: TrackingStore, run_id: str) -> None:
    store.log_metric(run_id, Metric("m", math.nan, 1, 1))
    assert math.isnan(latest(store, run_id, "m").value)
    store.log_metric(run_id, Metric("m", 2.0, 2, 2))
    assert latest(store, run_id, "m").value == 2.0


def test_metric_history_order(store: TrackingStore, run_id: str) -> None:
    points = [Metric("m", float(i), ts, step) for i, (ts, step) in enumerate([(5, 2), (1, 0), (9, 1), (2, 2), (3, 0)])]
    store.log_batch(run_id, metrics=points[:3])
    store.log_batch(run_id, metrics=points[3:])
    got = [(m.step, m.timestamp) for m in store.get_metric_history(run_id, "m")]
    assert got == [(0, 1), (0, 3), (1, 9), (2, 2), (2, 5)]
    assert all(m.run_id == run_id and m.key == "m" for m in store.get_metric_history(run_id, "m"))


def test_metric_history_unknown(store: TrackingStore, run_id: str) -> None:
    assert store.get_metric_history(run_id, "never") == []
    with pytest.raises(ResourceDoesNotExist):
        store.get_metric_history("0" * 32, "m")


def test_metric_history_paging(store: TrackingStore, run_id: str) -> None:
    points = [Metric("m", float(i), 1000 + i % 3, i // 2) for i in range(11)]
    store.log_batch(run_id, metrics=points)
    store.log_metric(run_id, Metric("other", 1.0, 1, 0))
    pages, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=3, page_token=token)
        pages.append(list(page))
        token = page.token
        if token is None:
            break
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    walked = [m for p in pages for m in p]
    assert walked == list(store.get_metric_history(run_id, "m"))
    assert sorted(m.value for m in walked) == [float(i) for i in range(11)]


def test_metric_history_paging_with_ties(store: TrackingStore, run_id: str) -> None:
    """Points with the same step and timestamp are each returned once across pages."""
    store.log_batch(run_id, metrics=[Metric("m", float(i), 7, 1) for i in range(9)])
    seen, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=2, page_token=token)
        seen += [m.value for m in page]
        if (token := page.token) is None:
            break
    assert sorted(seen) == [float(i) for i in range(9)]


def test_metric_history_exact_page(store: TrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(4)])
    page = store.get_metric_history(run_id, "m", max_results=4)
    assert len(page) == 4 and page.token is None


@pytest.mark.parametrize("max_results", [0, -1])
def test_metric_history_bad_max_results(store: TrackingStore, run_id: str, max_results: int) -> None:
    with pytest.raises(InvalidParameterValue):
        store.get_metric_history(run_id, "m", max_results=max_results)


def test_metric_history_columns_are_the_history(store: TrackingStore, run_id: str) -> None:
    """``get_metric_history_columns`` (the Arrow route's source) holds exactly the points, in order."""
    points = [Metric("m", float(i) / 3, 1000 + i % 4, i // 3) for i in range(13)]
    points += [Metric("m", math.nan, 1, 2), Metric("m", math.inf, 2, 2), Metric("m", -math.inf, 3, 40)]
    store.log_batch(run_id, metrics=points)
    want = store.get_metric_history(run_id, "m")
    got = store.get_metric_history_columns(run_id, "m")
    assert got.token is None and list(got.steps) == [p.step for p in want]
    assert list(got.timestamps) == [p.timestamp for p in want]
    assert [Metric("m", v, 0, 0) for v in got.values] == [Metric("m", p.value, 0, 0) for p in want]  # NaN == NaN
    page = store.get_metric_history_columns(run_id, "m", max_results=5)
    rest = store.get_metric_history_columns(run_id, "m", page_token=page.token)
    assert page.token and list(page.steps) + list(rest.steps) == list(got.steps)
    assert store.get_metric_history_columns(run_id, "never").steps == []
    with pytest.raises(ResourceDoesNotExist):
        store.get_metric_history_columns("0" * 32, "m")


def test_metric_history_bad_page_token(store: TrackingStore, run_id: str) -> None:
    with pytest.raises(InvalidParameterValue):
        store.get_metric_history(run_id, "m", max_results=2, page_token="not a token")


# -- tags ------------------------------------------------------------------------------------
def test_set_tag_upserts(store: TrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("t", "1"))
    store.set_tag(run_id, RunTag("t", "2"))
    store.log_batch(run_id, tags=[RunTag("t", "3"), RunTag("u", "")])
    tags = store.get_run(run_id).data.tags
    assert (tags["t"], tags["u"]) == ("3", "")


def test_delete_tag(store: TrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("t", "1"))
    store.delete_tag(run_id, "t")
    assert "t" not in store.get_run(run_id).data.tags
    with pytest.raises(ResourceDoesNotExist):
        store.delete_tag(run_id, "t")
    with pytest.raises(ResourceDoesNotExist):
        store.delete_tag(run_id, "never")


# -- batches ---------------------------------------------------------------------------------
def test_log_batch_everything(store: TrackingStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[Metric(f"m{i}", float(i), 10, 0) for i in range(100)],
        params=[Param(f"p{i}", str(i)) for i in range(100)],
        tags=[RunTag(f"t{i}", str(i)) for i in range(100)],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {f"m{i}": float(i) for i in range(100)}
    assert data.params == {f"p{i}": str(i) for i in range(100)}
    assert {k: v for k, v in data.tags.items() if k != "mlflow.runName"} == {f"t{i}": str(i) for i in range(100)}


def test_log_batch_empty(store: TrackingStore, run_id: str) -> None:
    store.log_batch(run_id)
    assert store.get_run(run_id).data.metrics == {}


def test_log_batch_at_limits(store: TrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(1000)])
    store.log_batch(
        run_id,
        metrics=[Metric("n", 1.0, 1, i) for i in range(800)],
        params=[Param(f"p{i}", "v") for i in range(100)],
        tags=[RunTag(f"t{i}", "v") for i in range(100)],
    )
    assert len(store.get_metric_history(run_id, "m")) == 1000
    assert len(store.get_metric_history(run_id, "n")) == 800


@pytest.mark.parametrize(
    ("n_metrics", "n_params", "n_tags"), [(1001, 0, 0), (0, 101, 0), (0, 0, 101), (900, 100, 1), (801, 100, 100)]
)
def test_log_batch_limits(store: TrackingStore, run_id: str, n_metrics: int, n_params: int, n_tags: int) -> None:
    with pytest.raises(InvalidParameterValue, match="at most"):
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1, i) for i in range(n_metrics)],
            params=[Param(f"p{i}", "v") for i in range(n_params)],
            tags=[RunTag(f"t{i}", "v") for i in range(n_tags)],
        )
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and list(data.tags) == ["mlflow.runName"]


def test_failing_batch_writes_nothing(store: TrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.01"))
    with pytest.raises(InvalidParameterValue, match="'lr'"):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", float(i), i, i) for i in range(10)],
            params=[Param("new", "1"), Param("lr", "0.02")],
            tags=[RunTag("t", "v"), RunTag("mlflow.runName", "renamed")],
        )
    run = store.get_run(run_id)
    assert store.get_metric_history(run_id, "loss") == []
    assert run.data.metrics == {}
    assert run.data.params == {"lr": "0.01"}
    assert "t" not in run.data.tags and run.info.run_name != "renamed"


@pytest.mark.parametrize(
    "bad",
    [
        {"metrics": [Metric("ok", 1.0, 1, 0), Metric("bad", True, 1, 0)]},
        {"params": [Param("ok", "1"), Param("bad", "x" * 6001)]},
        {"tags": [RunTag("ok", "1"), RunTag("bad/../key", "v")]},
    ],
    ids=["metric", "param", "tag"],
)
def test_invalid_entity_fails_whole_batch(store: TrackingStore, run_id: str, bad: dict) -> None:
    valid = {"metrics": [Metric("m", 1.0, 1, 0)], "params": [Param("p", "1")], "tags": [RunTag("t", "1")]}
    with pytest.raises(InvalidParameterValue):
        store.log_batch(run_id, **{**valid, **bad})
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and list(data.tags) == ["mlflow.runName"]


# -- concurrency -------------------------------------------------------------------------------
def test_concurrent_writers_to_one_run(store: TrackingStore, run_id: str) -> None:
    """Threads logging to one run at once: re-logging an equal param is fine for all of them,
    and the latest metric is the one with the largest step, whoever committed last."""
    threads, rounds = 4, 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=30)
                store.log_batch(run_id, params=[Param(f"same{i}", "v")])
                store.log_metric(run_id, Metric("m", float(i), 0, worker * rounds + i))
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    assert store.get_run(run_id).data.params == {f"same{i}": "v" for i in range(rounds)}
    assert latest(store, run_id, "m").step == threads * rounds - 1
    assert len(store.get_metric_history(run_id, "m")) == threads * rounds


def test_exact_repeats_of_a_point_are_stored_once(store) -> None:
    """MLflow keeps one copy of an identical point: retries and log_model's re-logging add nothing."""
    run_id = store.create_run("0", "u", 0).info.run_id
    point = Metric("m", 0.5, 100, 3)
    store.log_batch(run_id, metrics=[point, point])
    store.log_batch(run_id, metrics=[point, Metric("m", 0.5, 101, 3), Metric("m", float("nan"), 100, 3)])
    store.log_batch(run_id, metrics=[Metric("m", float("nan"), 100, 3)])
    history = store.get_metric_history(run_id, "m")
    assert len(history) == 3
    assert sorted((h.timestamp, str(h.value)) for h in history) == [(100, "0.5"), (100, "nan"), (101, "0.5")]
