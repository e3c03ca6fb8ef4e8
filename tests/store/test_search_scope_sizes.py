"""A search ordered by a metric asks the database whether its experiments are large enough for the
banded plan once per ``SCOPE_SIZE_TTL_S`` (``run_search.ScopeSizes``), not once per search. The
answer only picks the plan: a stale one must still give the right page."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from modelyard.entities import Metric
from modelyard.store.tracking.sql import run_search

ORDER = ["metrics.loss ASC"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(store, monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(store, "_scope_sizes", run_search.ScopeSizes(clock=clock))
    monkeypatch.setattr(run_search, "BANDED_MIN_RUNS", 5)
    return clock


def _add_runs(store, exp: str, losses: list[float]) -> None:
    for loss in losses:
        run_id = store.create_run(exp, "u", 0).info.run_id
        store.log_batch(run_id, metrics=[Metric("loss", loss, 0, 0)])


def _search(store, exp: str) -> tuple[list[float], list[str]]:
    """The page's losses, and the statements the search ran."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        page = store.search_runs([exp], max_results=100, order_by=ORDER)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return [r.data.metrics["loss"] for r in page], statements


def _probes(statements: list[str]) -> int:
    return sum("count(" in s.lower() for s in statements)


def _banded(statements: list[str]) -> bool:
    return any("order_band" in s or "order_fence" in s for s in statements)


def test_the_scope_is_probed_once_per_ttl_and_a_stale_answer_gives_the_same_page(store, clock) -> None:
    exp = store.create_experiment("grows")
    _add_runs(store, exp, [0.3, 0.1, 0.2])

    losses, statements = _search(store, exp)
    assert losses == [0.1, 0.2, 0.3]
    assert _probes(statements) == 1 and not _banded(statements)

    _add_runs(store, exp, [0.05, 0.4, 0.25])  # now 6 runs: large, but the answer is remembered
    clock.now += run_search.SCOPE_SIZE_TTL_S / 2
    losses, statements = _search(store, exp)
    assert losses == [0.05, 0.1, 0.2, 0.25, 0.3, 0.4]
    assert _probes(statements) == 0 and not _banded(statements)

    clock.now += run_search.SCOPE_SIZE_TTL_S  # expired: asked again, and the banded plan runs
    losses, statements = _search(store, exp)
    assert losses == [0.05, 0.1, 0.2, 0.25, 0.3, 0.4]
    assert _probes(statements) == 1 and _banded(statements)

    losses, statements = _search(store, exp)
    assert _probes(statements) == 0 and _banded(statements)


def test_each_scope_has_its_own_answer(store, clock) -> None:
    small = store.create_experiment("small")
    large = store.create_experiment("large")
    _add_runs(store, small, [0.2, 0.1])
    _add_runs(store, large, [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])

    for _ in range(2):
        losses, statements = _search(store, small)
        assert losses == [0.1, 0.2] and not _banded(statements)
        losses, statements = _search(store, large)
        assert losses == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] and _banded(statements)
    # both experiments together: a scope of its own
    page = store.search_runs([small, large], max_results=3, order_by=ORDER)
    assert [r.data.metrics["loss"] for r in page] == [0.1, 0.1, 0.2]
