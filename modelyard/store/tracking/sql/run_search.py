"""The runs query of search_runs, with a fast plan when the first sort key is a metric.

Sorting by a metric is the common case ("best runs by loss") and the slow one: the general
plan ranks every candidate run with a CASE (missing, NaN, value) and so visits them all.
The banded plan splits the order into its three bands and runs each as its own query:

1. runs whose latest value of the metric is a number, walked in value order through the
   (key, value) index of latest_metrics, so the database stops after one page;
2. runs whose latest value is NaN;
3. runs without the metric.

The bands are exactly the general plan's order (rank, value, then the other keys and the
tie-breakers), so pages are identical; the second and third queries run only when the first
band ends inside the page. Offsets that start past a band need that band's count, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, exists, func, select

from modelyard.search.ast import OrderBy
from modelyard.store.tracking.sql import hydrate
from modelyard.store.tracking.sql import schema as db
from modelyard.store.tracking.sql.filters import apply_runs_order

BANDS = ("value", "nan", "missing")


def select_run_rows(
    conn: Connection, where: Sequence[ColumnElement[bool]], ordering: Sequence[OrderBy], offset: int, limit: int
) -> list:
    """Rows of hydrate.RUN_COLUMNS matching ``where``, in ``ordering``, from ``offset``, at most ``limit``."""
    if ordering and ordering[0].kind == "metric":
        return _banded(conn, where, ordering, offset, limit)
    stmt = apply_runs_order(select(*hydrate.RUN_COLUMNS).where(*where), ordering)
    return conn.execute(stmt.limit(limit).offset(offset)).all()


def _band(where: Sequence[ColumnElement[bool]], ordering: Sequence[OrderBy], band: str, ordered: bool = True):
    first, rest = ordering[0], ordering[1:]
    runs = db.runs
    if band == "missing":
        latest = db.latest_metrics
        has_metric = exists(select(1).where(latest.c.run_id == runs.c.id, latest.c.key == first.key))
        stmt = select(*hydrate.RUN_COLUMNS).where(*where, ~has_metric)
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


def _banded(conn: Connection, where, ordering: Sequence[OrderBy], offset: int, limit: int) -> list:
    rows: list = []
    for band in BANDS:
        got = conn.execute(_band(where, ordering, band).limit(limit - len(rows)).offset(offset)).all()
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
