"""Chart samples of large histories (``get_metric_history_bulk_interval`` past ``LARGE_HISTORY``
points) are picked by index seeks instead of counting every step: with no step missing they are the
very points the exact (rank) sample gives; with gaps, logged steps next after evenly spaced values,
each run's first and last step included."""

from __future__ import annotations

import pytest

from modelyard.entities import Metric
from modelyard.store.tracking.sql import history


def _log(store, run_id: str, steps) -> None:
    points = [Metric("loss", 1.0 / (1 + s), 1_000 + s, s) for s in steps]
    for i in range(0, len(points), 1000):
        store.log_batch(run_id, metrics=points[i : i + 1000])


def _sample(store, monkeypatch, run_ids, large: int, **kwargs):
    monkeypatch.setattr(history, "LARGE_HISTORY", large)
    got = store.get_metric_history_bulk_interval(run_ids, "loss", **kwargs)
    return [(m.run_id, m.step, m.value, m.timestamp) for m in got]


@pytest.fixture
def runs(store):
    exp = store.create_experiment("large-history")
    dense, other, gapped, late = (store.create_run(exp, "u", start_time=1).info.run_id for _ in range(4))
    _log(store, dense, range(0, 1200))
    _log(store, other, range(100, 700, 3))
    _log(store, gapped, [s * s for s in range(60)])  # ever wider gaps
    _log(store, late, [775, 776])  # its first step answers the target 773 (gapped's next is 784)
    return dense, other, gapped, late


@pytest.mark.parametrize(
    "kwargs", [{"max_results": 50}, {"max_results": 7, "start_step": 90, "end_step": 1000}]
)
def test_without_gaps_the_seeks_pick_the_exact_sample(store, monkeypatch, runs, kwargs) -> None:
    dense = runs[0]
    exact = _sample(store, monkeypatch, [dense], 10**9, **kwargs)
    seeked = _sample(store, monkeypatch, [dense], 10, **kwargs)
    assert seeked == exact
    assert len(exact) == kwargs["max_results"]


def test_with_gaps_the_sample_is_logged_steps_after_evenly_spaced_values(store, monkeypatch, runs) -> None:
    _, other, gapped, late = runs
    got = _sample(store, monkeypatch, [gapped, other, late], 10, max_results=10)
    logged = {gapped: {s * s for s in range(60)}, other: set(range(100, 700, 3)), late: {775, 776}}
    assert all(step in logged[run_id] for run_id, step, _, _ in got)
    steps = sorted({step for _, step, _, _ in got})
    # each run's ends, and for each of 10 targets over [0, 3481] the first logged step at or after it
    targets = [(i * 3481) // 9 for i in range(10)]
    union = sorted(logged[gapped] | logged[other] | logged[late])
    expected = {min(s for s in union if s >= t) for t in targets} | {0, 3481, 100, 697, 775, 776}
    assert 775 in expected and 784 not in expected
    assert steps == sorted(expected)
    # every point of a chosen step is returned, per run in step order
    for run_id in (gapped, other, late):
        mine = [step for r, step, _, _ in got if r == run_id]
        assert mine == sorted(s for s in expected if s in logged[run_id])


def test_an_empty_history_is_empty_on_both_paths(store, monkeypatch, runs) -> None:
    exp = store.create_experiment("no-points")
    empty = store.create_run(exp, "u", start_time=1).info.run_id
    for large in (10**9, 1):
        assert _sample(store, monkeypatch, [empty], large, max_results=10) == []
