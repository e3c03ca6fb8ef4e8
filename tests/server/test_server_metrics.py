"""Metric-history endpoints in-process (paged history, sampled bulk interval, ajax bulk) and the
sampling rules every store shares."""

from __future__ import annotations

import random

import pytest

from modelyard.entities import Metric
from modelyard.store.tracking.base import TrackingStore, sample_steps

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


def error(resp, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    return body["message"]


def new_run(api) -> str:
    return ok(api.post(f"{API}/runs/create", json={}))["run"]["info"]["run_id"]


def log(api, run_id: str, points: list[tuple[str, float | str, int, int]]) -> None:
    for i in range(0, len(points), 1000):
        metrics = [{"key": k, "value": v, "timestamp": ts, "step": s} for k, v, ts, s in points[i : i + 1000]]
        ok(api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}))


def history(api, **params):
    return api.get(f"{API}/metrics/get-history", params=params)


def interval(api, **params):
    return api.get(f"{API}/metrics/get-history-bulk-interval", params=params)


def bulk(api, **params):
    return api.get(f"{AJAX}/metrics/get-history-bulk", params=params)


# -- get-history -----------------------------------------------------------------------------------
def test_get_history_exact_shape(api) -> None:
    run_id = new_run(api)
    log(api, run_id, [("m", 2.0, 20, 1), ("m", 1.0, 10, 0), ("m", "NaN", 30, 1), ("other", 5.0, 1, 0)])
    assert ok(history(api, run_id=run_id, metric_key="m")) == {
        "metrics": [
            {"key": "m", "value": 1.0, "timestamp": 10, "step": 0, "run_id": run_id},
            {"key": "m", "value": 2.0, "timestamp": 20, "step": 1, "run_id": run_id},
            {"key": "m", "value": "NaN", "timestamp": 30, "step": 1, "run_id": run_id},
        ]
    }
    assert ok(history(api, run_uuid=run_id, metric_key="never")) == {"metrics": []}
    assert ok(api.get(f"{AJAX}/metrics/get-history", params={"run_id": run_id, "metric_key": "other"}))[
        "metrics"
    ]


def test_get_history_pages(api) -> None:
    run_id = new_run(api)
    log(api, run_id, [("m", float(i), i, i) for i in range(5)])
    seen, token, pages = [], None, 0
    while True:
        params = {"run_id": run_id, "metric_key": "m", "max_results": "2"}
        page = ok(history(api, **params, **({"page_token": token} if token else {})))
        pages += 1
        seen += [m["step"] for m in page["metrics"]]
        if "next_page_token" not in page:
            break
        assert set(page) == {"metrics", "next_page_token"}
        token = page["next_page_token"]
    assert (seen, pages) == ([0, 1, 2, 3, 4], 3)
    # Above the 25,000 page limit: clamped, not refused (MLflow clients always send 25,000).
    assert len(ok(history(api, run_id=run_id, metric_key="m", max_results=10**6))["metrics"]) == 5


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"metric_key": "m"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "max_results": "ten"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "max_results": "0"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "page_token": "%%%"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "0" * 32, "metric_key": "m"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_get_history_bad_input(api, params, status, code) -> None:
    run_id = new_run(api)
    error(history(api, **{k: (run_id if v == "RUN" else v) for k, v in params.items()}), status, code)


# -- get-history-bulk-interval ---------------------------------------------------------------------------
def test_bulk_interval_samples_evenly_keeping_first_and_last(api) -> None:
    a, b = new_run(api), new_run(api)
    log(api, a, [("m", float(s), 1000 + s, s) for s in range(100)])
    log(api, b, [("m", -float(s), 5, s) for s in range(50, 60)] + [("m", 7.0, 6, 55)])  # two points at 55
    answer = ok(interval(api, run_ids=[a, b], metric_key="m", max_results=10))
    # union of steps 0..99 -> ranks 0, 11, ..., 99; plus each run's first and last step (b: 50, 59)
    chosen = [0, 11, 22, 33, 44, 50, 55, 59, 66, 77, 88, 99]
    assert answer == {
        "metrics": [
            {"key": "m", "value": float(s), "timestamp": 1000 + s, "step": s, "run_id": a} for s in chosen
        ]
        + [
            {"key": "m", "value": -50.0, "timestamp": 5, "step": 50, "run_id": b},
            {"key": "m", "value": -55.0, "timestamp": 5, "step": 55, "run_id": b},
            {"key": "m", "value": 7.0, "timestamp": 6, "step": 55, "run_id": b},
            {"key": "m", "value": -59.0, "timestamp": 5, "step": 59, "run_id": b},
        ]
    }
    # runs come back in the order asked for
    flipped = ok(interval(api, run_ids=[b, a], metric_key="m", max_results=10))["metrics"]
    assert [m["run_id"] for m in flipped] == [b] * 4 + [a] * 12


def test_bulk_interval_defaults_and_ranges(api) -> None:
    a, b = new_run(api), new_run(api)
    log(api, a, [("m", float(s), 1, s) for s in range(-5, 30)])
    log(api, b, [("m", 1.0, 1, 100)])
    everything = ok(interval(api, run_ids=[a], metric_key="m"))["metrics"]  # max_results defaults to 2500
    assert [m["step"] for m in everything] == list(range(-5, 30))
    ranged = ok(interval(api, run_ids=[a, b], metric_key="m", start_step="10", end_step=12))["metrics"]
    assert [(m["run_id"], m["step"]) for m in ranged] == [(a, 10), (a, 11), (a, 12)]
    assert ok(interval(api, run_ids=[a, b], metric_key="never")) == {"metrics": []}
    one = ok(interval(api, run_ids=[a, a], metric_key="m", max_results=1))["metrics"]
    assert [m["step"] for m in one] == [-5, 29]  # duplicate run ids count once; first and last kept


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({}, "run_ids"),
        ({"run_ids": ["X"] * 1 + [f"r{i}" for i in range(100)]}, "must specify at most 100 run_ids"),
        ({"run_ids": ["X"], "start_step": 1}, "both"),
        ({"run_ids": ["X"], "end_step": 1}, "both"),
        ({"run_ids": ["X"], "start_step": 5, "end_step": 4}, "end_step"),
        ({"run_ids": ["X"], "max_results": 0}, "max_results"),
        ({"run_ids": ["X"], "max_results": 2501}, "max_results"),
        ({"run_ids": ["X"], "max_results": "true"}, "max_results"),
        ({"run_ids": ["X"], "start_step": "a", "end_step": 3}, "start_step"),
    ],
)
def test_bulk_interval_bad_input(api, params, needle) -> None:
    run_id = new_run(api)
    params = {"metric_key": "m", **params}
    if "run_ids" in params:
        params["run_ids"] = [run_id if r == "X" else r for r in params["run_ids"]]
    assert needle in error(interval(api, **params), 400, "INVALID_PARAMETER_VALUE")


def test_bulk_interval_unknown_run_is_404(api) -> None:
    run_id = new_run(api)
    message = error(interval(api, run_ids=[run_id, "0" * 32], metric_key="m"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "0" * 32 in message
    error(interval(api, run_ids=[run_id]), 400, "INVALID_PARAMETER_VALUE")  # no metric_key


# -- ajax get-history-bulk -------------------------------------------------------------------------------
def test_history_bulk_ajax_only(api) -> None:
    a, b = sorted([new_run(api), new_run(api)])
    log(api, a, [("m", 1.0, 1, 0), ("m", "Infinity", 2, 1)])
    log(api, b, [("m", 3.0, 3, 0)])
    assert ok(bulk(api, run_id=[b, a], metric_key="m")) == {
        "metrics": [
            {"key": "m", "value": 1.0, "timestamp": 1, "step": 0, "run_id": a},
            {"key": "m", "value": "Infinity", "timestamp": 2, "step": 1, "run_id": a},
            {"key": "m", "value": 3.0, "timestamp": 3, "step": 0, "run_id": b},
        ]
    }
    assert [m["run_id"] for m in ok(bulk(api, run_id=[b, a], metric_key="m", max_results=2))["metrics"]] == [
        a,
        a,
    ]
    error(
        api.get(f"{API}/metrics/get-history-bulk", params={"run_id": a, "metric_key": "m"}),
        404,
        "ENDPOINT_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"metric_key": "m"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": ["X"]}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": ["X"], "metric_key": "m", "max_results": 25_001}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": ["X"], "metric_key": "m", "max_results": 0}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": [f"r{i}" for i in range(101)], "metric_key": "m"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": ["0" * 32], "metric_key": "m"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_history_bulk_bad_input(api, params, status, code) -> None:
    run_id = new_run(api)
    if "run_id" in params:
        params = {**params, "run_id": [run_id if r == "X" else r for r in params["run_id"]]}
    error(bulk(api, **params), status, code)


# -- sampling: one rule for every store -------------------------------------------------------------------
def test_sample_steps() -> None:
    assert sample_steps([], 5) == set()
    assert sample_steps([3, 7], 5) == {3, 7}
    assert sample_steps(list(range(10)), 1) == {0, 9}
    assert sample_steps(list(range(10)), 2) == {0, 9}
    assert sample_steps(list(range(0, 1000, 10)), 4) == {0, 330, 660, 990}
    for n, k in [(10, 3), (101, 7), (2600, 2500), (5, 4)]:
        chosen = sample_steps(list(range(n)), k)
        assert len(chosen) == k and {0, n - 1} <= chosen


def test_sql_sampling_matches_the_default_implementation(api) -> None:
    """The SQL store samples in the database; the protocol's default reads whole histories."""
    store = api.app.state.services.tracking.store
    rng = random.Random(7)
    runs = [store.create_run("0", "u", 0).info.run_id for _ in range(3)]
    for run_id in runs:
        steps = sorted(rng.sample(range(-50, 400), rng.randint(1, 200)))
        points = [
            Metric("m", rng.random(), rng.randint(0, 3), s) for s in steps for _ in range(rng.randint(1, 2))
        ]
        for i in range(0, len(points), 1000):
            store.log_batch(run_id, metrics=points[i : i + 1000])
    for max_results, bounds in [(5, (None, None)), (50, (None, None)), (2500, (None, None)), (7, (0, 100))]:
        sql = store.get_metric_history_bulk_interval(runs, "m", max_results, *bounds)
        default = TrackingStore.get_metric_history_bulk_interval(store, runs, "m", max_results, *bounds)
        assert [(m.run_id, m.step, m.timestamp, m.value) for m in sql] == [
            (m.run_id, m.step, m.timestamp, m.value) for m in default
        ]
    assert store.get_metric_history_bulk(runs, "m", 300) == TrackingStore.get_metric_history_bulk(
        store, runs, "m", 300
    )


def test_sql_sampling_of_dense_steps_matches_the_default_implementation(api) -> None:
    """Every step from low to high logged (the usual case): sampled from COUNT/MIN/MAX alone."""
    store = api.app.state.services.tracking.store
    runs = [store.create_run("0", "u", 0).info.run_id for _ in range(2)]
    store.log_batch(runs[0], metrics=[Metric("m", s * 0.5, 0, s) for s in range(-3, 997)])
    store.log_batch(runs[1], metrics=[Metric("m", s * 2.0, 0, s) for s in range(10, 510)])
    for max_results, bounds in [
        (1, (None, None)),
        (7, (None, None)),
        (333, (None, None)),
        (2000, (None, None)),
        (9, (5, 20)),
    ]:
        sql = store.get_metric_history_bulk_interval(runs, "m", max_results, *bounds)
        default = TrackingStore.get_metric_history_bulk_interval(store, runs, "m", max_results, *bounds)
        assert [(m.run_id, m.step, m.value) for m in sql] == [(m.run_id, m.step, m.value) for m in default]
        assert sql, "the sample is never empty when points exist"
