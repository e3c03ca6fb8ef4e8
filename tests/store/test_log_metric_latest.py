"""log_metric one point at a time: the latest point follows MLflow's rule (largest step, then
timestamp, then value; NaN the smallest value) and every point is kept once. On PostgreSQL a
call is one round trip (pgbatch: the run's lock and one statement, sent as one query)."""

from __future__ import annotations

import math

from modelyard.entities import Metric
from modelyard.store.tracking.sql import pgbatch
from modelyard.store.tracking.sql.store import SqlTrackingStore


def test_log_metric_latest_and_history(store: SqlTrackingStore, monkeypatch) -> None:
    used: list[str] = []
    real_batch = pgbatch.log_batch_call

    def spy(run_id, *args, **kwargs):
        used.append(run_id)
        return real_batch(run_id, *args, **kwargs)

    monkeypatch.setattr(pgbatch, "log_batch_call", spy)
    run_id = store.create_run("0", "u", 0).info.run_id

    def latest() -> tuple:
        (m,) = [m for m in store.get_run(run_id).data.metric_objs if m.key == "m"]
        return (_v(m.value), m.timestamp, m.step)

    points = [
        Metric("m", 1.0, 10, 0),
        Metric("m", 2.0, 5, 1),  # newer step: the latest
        Metric("m", 9.0, 99, 0),  # older step: kept, not the latest
        Metric("m", 3.0, 6, 1),  # same step, later timestamp: the latest
        Metric("m", float("nan"), 7, 1),  # later timestamp still wins, even as NaN
        Metric("m", float("nan"), 7, 1),  # an exact repeat: not stored again
        Metric("m", float("inf"), 7, 2),
    ]
    expected_latest = [
        (1.0, 10, 0),
        (2.0, 5, 1),
        (2.0, 5, 1),
        (3.0, 6, 1),
        ("nan", 7, 1),
        ("nan", 7, 1),
        (math.inf, 7, 2),
    ]
    for point, want in zip(points, expected_latest, strict=True):
        store.log_metric(run_id, point)
        assert latest() == want
    history = sorted((m.step, m.timestamp, _v(m.value)) for m in store.get_metric_history(run_id, "m"))
    assert history == [(0, 10, 1.0), (0, 99, 9.0), (1, 5, 2.0), (1, 6, 3.0), (1, 7, "nan"), (2, 7, math.inf)]
    if store.engine.dialect.name == "postgresql":
        assert used == [run_id] * len(points)


def _v(value: float):
    return "nan" if math.isnan(value) else value


def test_repeats_are_dropped_at_and_before_the_latest_step_only(store: SqlTrackingStore) -> None:
    """A batch mixing repeats of stored points (at the latest step and before it) with points past
    the latest step: every repeat is dropped, every new point kept, one key's latest moves and the
    other's does not (PostgreSQL looks stored points up only for steps up to the key's latest)."""
    run_id = store.create_run("0", "u", 0).info.run_id
    store.log_batch(run_id, metrics=[Metric(k, float(s), 100 + s, s) for s in range(3) for k in ("a", "b")])
    store.log_batch(
        run_id,
        metrics=[
            Metric("a", 2.0, 102, 2),  # repeat of a's latest point
            Metric("a", 0.0, 100, 0),  # repeat of an older point
            Metric("a", 5.0, 102, 2),  # the latest step again, another value: a new point
            Metric("a", 3.0, 103, 3),  # past the latest step
            Metric("b", 1.0, 101, 1),  # repeat
            Metric("c", 9.0, 1, 7),  # a key without a latest point yet
        ],
    )
    history = {
        k: sorted((m.step, m.timestamp, m.value) for m in store.get_metric_history(run_id, k)) for k in "abc"
    }
    assert history["a"] == [(0, 100, 0.0), (1, 101, 1.0), (2, 102, 2.0), (2, 102, 5.0), (3, 103, 3.0)]
    assert history["b"] == [(0, 100, 0.0), (1, 101, 1.0), (2, 102, 2.0)]
    assert history["c"] == [(7, 1, 9.0)]
    assert store.get_run(run_id).data.metrics == {"a": 3.0, "b": 2.0, "c": 9.0}
    store.log_batch(run_id, metrics=[Metric("a", 3.0, 103, 3), Metric("a", 4.0, 104, 4)])
    assert [m.step for m in store.get_metric_history(run_id, "a")].count(3) == 1
    assert store.get_run(run_id).data.metrics["a"] == 4.0
