"""search_runs ordered by a metric uses a banded plan (numbers, NaN, missing): every page must
equal the in-memory evaluator's order, on every backend, at every offset."""

import math
import random

import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.search import matches, parse_filter, parse_order_by, sort_runs

FILTERS = [None, "params.opt = 'adam'", "metrics.acc > 0.3 or tags.team = 'b'"]
ORDERS = [
    ["metrics.loss ASC"],
    ["metrics.loss DESC"],
    ["metrics.loss ASC", "params.opt DESC"],
    ["metrics.loss DESC", "metrics.acc ASC", "attributes.run_name ASC"],
]


@pytest.fixture
def populated(store):
    rng = random.Random(7)
    exp = store.create_experiment("banded")
    for _ in range(40):
        run = store.create_run(exp, "u", start_time=1000 + rng.randint(0, 5), tags=[RunTag("team", rng.choice("ab"))])
        rid = run.info.run_id
        metrics = []
        kind = rng.random()
        if kind < 0.6:  # a number, with deliberate ties
            metrics.append(Metric("loss", rng.choice([0.1, 0.2, 0.3, 0.5, 1.0, math.inf, -math.inf]), 1, 0))
        elif kind < 0.8:
            metrics.append(Metric("loss", math.nan, 1, 0))
        if rng.random() < 0.7:
            metrics.append(Metric("acc", rng.random(), 1, 0))
        params = [Param("opt", rng.choice(["adam", "sgd"]))] if rng.random() < 0.8 else []
        store.log_batch(rid, metrics=metrics, params=params)
    return exp


@pytest.fixture(params=["banded", "plain", "tight-fence"])
def plan(request, monkeypatch):
    """The banded plan serves large experiments; force either plan on this small one.
    ``tight-fence``: the banded plan whose PostgreSQL fence holds exactly the values the page
    needs, so that ties straddle its edge and filters leave it short (the fallback runs)."""
    from modelyard.store.tracking.sql import run_search

    monkeypatch.setattr(run_search, "BANDED_MIN_RUNS", 10**9 if request.param == "plain" else 1)
    if request.param == "tight-fence":
        monkeypatch.setattr(run_search, "FENCE_FACTOR", 1)
    return request.param


@pytest.mark.parametrize("order_by", ORDERS)
@pytest.mark.parametrize("filter_string", FILTERS)
def test_banded_pages_match_the_evaluator(store, populated, plan, filter_string, order_by):
    everything = store.search_runs([populated], max_results=1000)
    expr = parse_filter(filter_string, "runs")
    expected = [r.info.run_id for r in sort_runs([r for r in everything if matches(expr, r)], parse_order_by(order_by, "runs"))]
    for page_size in (1, 7, 50):
        seen, token = [], None
        while True:
            page = store.search_runs([populated], filter_string, max_results=page_size, order_by=order_by, page_token=token)
            seen += [r.info.run_id for r in page]
            token = page.token
            if not token:
                break
        assert seen == expected, (page_size, filter_string, order_by)


def test_postgres_first_band_walks_a_bounded_fence(store, populated, monkeypatch):
    """On PostgreSQL the page of the first band comes from the best values of the metric only
    (FETCH FIRST ... WITH TIES), and is the evaluator's page; SQLite and MariaDB keep the plain
    banded plan (no fence) for the same page."""
    from sqlalchemy import event

    from modelyard.store.tracking.sql import run_search

    monkeypatch.setattr(run_search, "BANDED_MIN_RUNS", 1)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    everything = store.search_runs([populated], max_results=1000)
    expected = sort_runs(everything, parse_order_by(["metrics.loss ASC"], "runs"))[:3]
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        page = store.search_runs([populated], max_results=3, order_by=["metrics.loss ASC"])
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert [r.info.run_id for r in page] == [r.info.run_id for r in expected]
    fenced = [s for s in statements if "WITH TIES" in s]
    if store.engine.dialect.name != "postgresql":
        assert not fenced and any("order_band" in s for s in statements), statements
        return
    assert len(fenced) == 1 and "order_fence" in fenced[0], statements
    assert not any("order_band" in s for s in statements), statements  # the fence was enough
