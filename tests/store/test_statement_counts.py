"""Performance sanity without timing: the number of SQL statements does not grow with the number
of rows (no per-row round trips, no N+1 reads). Counted with SQLAlchemy's ``before_cursor_execute``:
the same call is made on little and on much data, and both must issue the same statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from modelyard.entities import Metric, Param, RunTag
from modelyard.store.tracking.sql.store import SqlTrackingStore

SANE_MAXIMUM = 20  # a loose cap on any one call; the real check is "independent of the size"


@contextmanager
def count_statements(store: SqlTrackingStore) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def batch(n_metrics: int, n_params: int = 0, n_tags: int = 0, prefix: str = "") -> dict:
    return {
        "metrics": [Metric(f"{prefix}m{i % 100}", float(i), i, i // 100) for i in range(n_metrics)],
        "params": [Param(f"{prefix}p{i}", str(i)) for i in range(n_params)],
        "tags": [RunTag(f"{prefix}t{i}", str(i)) for i in range(n_tags)],
    }


def test_log_batch_statements_do_not_grow(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 0).info.run_id
    with count_statements(store) as small:
        store.log_batch(run_id, **batch(2, 1, 1, prefix="a"))
    with count_statements(store) as large:
        store.log_batch(run_id, **batch(800, 100, 100, prefix="b"))
    with count_statements(store) as metrics_only:
        store.log_batch(run_id, **batch(1000, prefix="c"))
    assert len(large) == len(small) <= SANE_MAXIMUM, large
    assert len(metrics_only) <= len(small), metrics_only
    data = store.get_run(run_id).data
    assert len(data.params) == 101 and len(store.get_metric_history(run_id, "cm7")) == 10


def test_get_run_statements_do_not_grow(store: SqlTrackingStore) -> None:
    small_run = store.create_run("0", "u", 0).info.run_id
    large_run = store.create_run("0", "u", 0).info.run_id
    store.log_batch(small_run, **batch(1, 1, 1))
    store.log_batch(large_run, **batch(1000))
    store.log_batch(large_run, **batch(0, 100, 100))
    with count_statements(store) as small:
        store.get_run(small_run)
    with count_statements(store) as large:
        run = store.get_run(large_run)
    assert len(run.data.metrics) == 100 and len(run.data.params) == 100
    assert len(large) == len(small) <= SANE_MAXIMUM, large


def test_search_runs_statements_do_not_grow(store: SqlTrackingStore, monkeypatch) -> None:
    from modelyard.store.tracking.sql import run_search

    exp_id = store.create_experiment("many")
    for i in range(30):
        run_id = store.create_run(exp_id, "u", i).info.run_id
        store.log_batch(run_id, **batch(3, 2, 2))
    search = {"filter_string": "metrics.m1 >= 0", "order_by": ["metrics.m0 DESC", "params.p1"]}
    store.search_runs([exp_id], max_results=1, **search)  # the experiment's size, probed once (ScopeSizes)
    with count_statements(store) as small:
        assert len(store.search_runs([exp_id], max_results=2, **search)) == 2
    with count_statements(store) as large:
        assert len(store.search_runs([exp_id], max_results=15, **search)) == 15
    assert len(large) == len(small) <= SANE_MAXIMUM, large
    # Ordered by a metric, the banded plan (large experiments) reads a page that runs past the
    # runs having the metric from the NaN and missing bands too: two more statements,
    # whatever the page size (run_search.py); on PostgreSQL one more, the first band's fence
    # then being too short for the page.
    monkeypatch.setattr(run_search, "BANDED_MIN_RUNS", 1)
    store.search_runs([exp_id], max_results=1, **search)  # probed again: the threshold changed
    with count_statements(store) as banded_small:
        assert len(store.search_runs([exp_id], max_results=2, **search)) == 2
    with count_statements(store) as spanning:
        assert len(store.search_runs([exp_id], max_results=100, **search)) == 30
    fence_fell_short = 1 if store.engine.dialect.name == "postgresql" else 0
    assert len(spanning) == len(banded_small) + 2 + fence_fell_short, spanning


def test_search_experiments_statements_do_not_grow(store: SqlTrackingStore) -> None:
    for i in range(15):
        store.create_experiment(f"e{i}", tags={"a": "1", "b": "2"})
    with count_statements(store) as small:
        assert len(store.search_experiments(max_results=2)) == 2
    with count_statements(store) as large:
        assert len(store.search_experiments(max_results=16)) == 16
    assert len(large) == len(small) <= SANE_MAXIMUM, large


def test_metric_history_statements_do_not_grow(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 0).info.run_id
    store.log_batch(run_id, metrics=[Metric("one", 1.0, 1, 1)])
    store.log_batch(run_id, metrics=[Metric("many", float(i), i, i) for i in range(1000)])
    with count_statements(store) as small:
        store.get_metric_history(run_id, "one")
    with count_statements(store) as large:
        assert len(store.get_metric_history(run_id, "many")) == 1000
    assert len(large) == len(small) <= SANE_MAXIMUM, large
