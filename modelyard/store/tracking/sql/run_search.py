"""The runs query of search_runs, with a fast plan when the first sort key is a metric.

Sorting by a metric is the common case ("best runs by loss") and the slow one: the general
plan ranks every candidate run with a CASE (missing, NaN, value) and so visits them all.
The banded plan splits the order into its three bands and runs each as its own query:

1. runs whose latest value of the metric is a number, walked in value order through the
   (key, is_nan, value, run_id) index of latest_metrics, so the database stops after one page;
2. runs whose latest value is NaN;
3. runs without the metric.

The bands are exactly the general plan's order (rank, value, then the other keys and the
tie-breakers), so pages are identical; the second and third queries run only when the first
band ends inside the page. Offsets that start past a band need that band's count, once.

A filter that requires a tag to equal a rare value (``tags.mlflow.parentRunId = '<id>'``: a run
page's children) is driven from that value instead: the runs are looked up from the few tag rows
holding it (revision 0010's index on ``tags.value``), rather than every run of the experiment
being tested against the filter. SQLite has no statistics to tell a rare value from a common one,
so the store asks first, reading at most ``DRIVING_TAG_MAX`` index entries.

On PostgreSQL the first band walks a fence: the ``FENCE_FACTOR * (offset + limit)`` best values of
the metric (``FETCH FIRST n ROWS WITH TIES``, so a value is never cut in the middle of its ties),
taken from the (key, is_nan, value, run_id) index, then joined to runs and tested against the filter. The fence
bounds the walk whatever the planner believes of the filter's selectivity (it estimates correlated
EXISTS poorly and would otherwise start from the runs of the experiment and test every one of
them: 10,000 runs for a 100-run page). When fewer rows than asked pass inside the fence, the band is
run again without it: every value beyond the fence sorts after every value within it, so a full
page from the fence is exactly the band's page. There the experiment test stays on the runs index,
which the planner costs correctly.

Whether a scope is large enough for the banded plan is asked of the database once per
``SCOPE_SIZE_TTL_S`` per scope (``ScopeSizes``): the answer only picks a plan, both plans return
the same page, so a stale answer costs speed, never a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, Connection, exists, false, func, select

from modelyard.search.ast import And, Comparison, Expr, OrderBy
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql import hydrate
from modelyard.store.tracking.sql.search_tables import apply_runs_order

BANDS = ("value", "nan", "missing")


# Below this many runs in scope, ranking them all is cheap and the plain plan is best.
BANDED_MIN_RUNS = 2000
# A tag value held by fewer tag rows than this drives the search (see the module's doc).
DRIVING_TAG_MAX = 1000
# PostgreSQL's first band looks at this many metric values per row of the page first (a filter
# passing one run in 16 or more fills a page from the fence).
FENCE_FACTOR = 16
# How long a scope's "large or not" answer is reused (seconds).
SCOPE_SIZE_TTL_S = 10.0


class ScopeSizes:
    """Which scopes (experiments, lifecycle stages) hold at least ``BANDED_MIN_RUNS`` runs,
    remembered for ``ttl`` seconds: the probe is one more statement per search (a round trip and
    ~1 ms on PostgreSQL) for an answer that changes only when thousands of runs come or go.
    One per store; safe to share between threads (a lost update only probes once more)."""

    def __init__(self, ttl: float = SCOPE_SIZE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._answers: dict[tuple, tuple[float, bool]] = {}

    def is_large(self, conn: Connection, experiment_ids: Sequence[int], stages: Sequence[str]) -> bool:
        key = (tuple(experiment_ids), tuple(stages), BANDED_MIN_RUNS)
        now = self.clock()
        known = self._answers.get(key)
        if known is not None and now - known[0] < self.ttl:
            return known[1]
        large = _scope_is_large(conn, scope_where(experiment_ids, stages))
        if len(self._answers) >= 1024:  # many one-off scopes: start over rather than grow
            self._answers.clear()
        self._answers[key] = (now, large)
        return large


def scope_where(experiment_ids: Sequence[int], stages: Sequence[str], *, use_index: bool = True) -> list:
    """The runs of these experiments in these lifecycle stages. ``use_index=False`` writes the
    experiment test so that no index can serve it (``experiment_id + 0``), leaving the planner
    one way in: the metric index walk of the banded plan."""
    runs = db.runs.c
    column = runs.experiment_id if use_index else runs.experiment_id + 0
    ids = list(experiment_ids)
    return [
        column.in_(ids) if len(ids) > 1 else column == ids[0],
        runs.lifecycle_stage.in_(stages) if len(stages) > 1 else runs.lifecycle_stage == stages[0],
    ]


def select_run_rows(
    conn: Connection,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    filters: Sequence[ColumnElement[bool]],
    ordering: Sequence[OrderBy],
    offset: int,
    limit: int,
    expr: Expr | None = None,
    sizes: ScopeSizes | None = None,
) -> list:
    """Rows (the driver's tuples) of hydrate.RUN_COLUMNS of these experiments and stages matching ``filters``, in
    ``ordering``, from ``offset``, at most ``limit``. ``expr`` is the filter ``filters`` were compiled
    from: a rare tag value it requires drives the query. ``sizes`` remembers which scopes are large
    (else the database is asked each time)."""
    driver = driving_tag(conn, expr)
    if driver is not None:
        # The experiment test written so that no index serves it: the runs come from the tag rows.
        where = [*scope_where(experiment_ids, stages, use_index=False), driver, *filters]
        stmt = apply_runs_order(select(*hydrate.RUN_COLUMNS).where(*where), ordering)
        return hydrate.raw_rows(conn, stmt.limit(limit).offset(offset))
    scope = scope_where(experiment_ids, stages)
    large = (sizes or ScopeSizes(ttl=0)).is_large
    if ordering and ordering[0].kind == "metric" and large(conn, experiment_ids, stages):
        fenced = conn.dialect.name == "postgresql"
        where = [*scope_where(experiment_ids, stages, use_index=fenced), *filters]
        return _banded(conn, where, ordering, offset, limit, fenced)
    stmt = apply_runs_order(select(*hydrate.RUN_COLUMNS).where(*scope, *filters), ordering)
    return hydrate.raw_rows(conn, stmt.limit(limit).offset(offset))


def required_tag_equalities(expr: Expr | None) -> list[Comparison]:
    """The ``tags.K = 'V'`` comparisons every matching run must pass: the filter itself, or items
    of its top-level AND."""
    items = expr.items if isinstance(expr, And) else (expr,)
    return [
        c
        for c in items
        if isinstance(c, Comparison) and c.kind == "tag" and c.op == "=" and isinstance(c.value, str)
    ]


def driving_tag(conn: Connection, expr: Expr | None) -> ColumnElement[bool] | None:
    """``runs.id IN (the runs holding tag K = V)`` for the first required tag equality whose value
    fewer than DRIVING_TAG_MAX tag rows hold (whatever their key), else None. Each probe reads at
    most that many entries of the value index."""
    tags = db.tags
    for c in required_tag_equalities(expr):
        probe = select(tags.c.run_id).where(tags.c.value == c.value).limit(DRIVING_TAG_MAX).subquery()
        if conn.execute(select(func.count()).select_from(probe)).scalar_one() < DRIVING_TAG_MAX:
            holders = select(tags.c.run_id).where(tags.c.value == c.value, tags.c.key == c.key)
            return db.runs.c.id.in_(holders)
    return None


def _scope_is_large(conn: Connection, scope: Sequence[ColumnElement[bool]]) -> bool:
    """Whether the scope holds at least BANDED_MIN_RUNS runs (reads at most that many index entries).
    Deciding here, rather than leaving it to the planner, keeps SQLite (which has no per-value
    statistics) from walking a whole metric index for a ten-run experiment, or from ranking every
    run of a 100,000-run experiment for one page."""
    probe = select(db.runs.c.id).where(*scope).limit(BANDED_MIN_RUNS).subquery()
    return conn.execute(select(func.count()).select_from(probe)).scalar_one() >= BANDED_MIN_RUNS


def _band(
    where: Sequence[ColumnElement[bool]],
    ordering: Sequence[OrderBy],
    band: str,
    ordered: bool = True,
    fence: int | None = None,
):
    first, rest = ordering[0], ordering[1:]
    runs = db.runs
    if band == "missing":
        latest = db.latest_metrics
        has_metric = exists(select(1).where(latest.c.run_id == runs.c.id, latest.c.key == first.key))
        stmt = select(*hydrate.RUN_COLUMNS).where(*where, ~has_metric)
    elif fence is not None:  # band "value": the first ``fence`` values (and their ties), then the runs
        latest = db.latest_metrics
        best = (
            select(latest.c.run_id, latest.c.value)
            .where(latest.c.key == first.key, latest.c.is_nan == false())
            .order_by(latest.c.value.asc() if first.ascending else latest.c.value.desc())
            .fetch(fence, with_ties=True)
            .subquery("order_fence")
        )
        stmt = (
            select(*hydrate.RUN_COLUMNS)
            .select_from(best.join(runs, runs.c.id == best.c.run_id))
            .where(*where)
            .order_by(best.c.value.asc() if first.ascending else best.c.value.desc())
        )
    else:
        o = db.latest_metrics.alias("order_band")
        stmt = (
            select(*hydrate.RUN_COLUMNS)
            .select_from(o.join(runs, runs.c.id == o.c.run_id))
            .where(o.c.key == first.key, o.c.is_nan == (band == "nan"), *where)
        )
        if band == "value" and ordered:
            stmt = stmt.order_by(o.c.value.asc() if first.ascending else o.c.value.desc())
    if not ordered:
        return stmt
    # The first key's own order is settled within a band; the other keys and tie-breakers follow.
    # (apply_runs_order adds start_time/run_uuid tie-breakers unless ``rest`` orders by them.)
    return apply_runs_order(stmt, rest)


def _banded(conn: Connection, where, ordering: Sequence[OrderBy], offset: int, limit: int, fenced: bool) -> list:
    rows: list = []
    for band in BANDS:
        want = limit - len(rows)
        got = None
        if fenced and band == "value":
            fence = FENCE_FACTOR * (offset + want)
            got = hydrate.raw_rows(conn, _band(where, ordering, band, fence=fence).limit(want).offset(offset))
            if len(got) < want:
                got = None  # the page goes past the fence: the whole band decides
        if got is None:
            got = hydrate.raw_rows(conn, _band(where, ordering, band).limit(want).offset(offset))
        if not got and offset:
            # The page starts past this band: skip it whole.
            counted = conn.execute(select(func.count()).select_from(_band(where, ordering, band, False).subquery()))
            offset = max(0, offset - counted.scalar_one())
            continue
        offset = 0
        rows.extend(got)
        if len(rows) >= limit:
            break
    return rows
