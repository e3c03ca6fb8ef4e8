"""Metric histories of several runs at once, in SQL: the chart queries of the UI.

- :func:`bulk_interval` samples steps in the database: ``COUNT(DISTINCT step), MIN, MAX`` over the
  ``(run_id, key, step)`` index (when every step between MIN and MAX was logged, the usual case,
  the sample is computed from those three numbers; otherwise one ``SELECT DISTINCT step``), one
  ``MIN/MAX(step) ... GROUP BY run_id``, then only the points at the chosen steps are read. Memory stays proportional to the answer (plus the distinct
  steps, integers only), not to the histories (MLflow #20927, #24169).
- :func:`bulk` reads whole histories of up to 100 runs in one ordered, limited query.

The store calls these inside its own read transaction; rules and sampling are shared with
every store through ``store/tracking/base.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from modelyard.entities import Metric
from modelyard.exceptions import ResourceDoesNotExist
from modelyard.store.tracking import base
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql.hydrate import metric_from_db

_IN_CHUNK = 500  # bound parameters per IN (...) list

_m = db.metrics.c


def run_row_ids(conn: Connection, run_ids: Sequence[str]) -> dict[str, int]:
    """``{run_uuid: internal id}`` for every run id given, in the order given; 404 for an unknown one."""
    found: dict[str, int] = {}
    for i in range(0, len(run_ids), _IN_CHUNK):
        chunk = list(run_ids[i : i + _IN_CHUNK])
        found.update(
            conn.execute(select(db.runs.c.run_uuid, db.runs.c.id).where(db.runs.c.run_uuid.in_(chunk))).all()
        )
    for run_id in run_ids:
        if run_id not in found:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    return {run_id: found[run_id] for run_id in run_ids}


def bulk_interval(
    conn: Connection,
    run_ids: Sequence[str],
    metric_key: str,
    max_results: int = base.METRIC_INTERVAL_MAX_RESULTS,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[Metric]:
    """See ``TrackingStore.get_metric_history_bulk_interval``."""
    run_ids = base.validate_interval_request(run_ids, max_results, start_step, end_step)
    ids = run_row_ids(conn, run_ids)
    where = [_m.run_id.in_(list(ids.values())), _m.key == metric_key]
    if start_step is not None and end_step is not None:
        where += [_m.step >= start_step, _m.step <= end_step]

    count, low, high = conn.execute(
        select(func.count(func.distinct(_m.step)), func.min(_m.step), func.max(_m.step)).where(*where)
    ).one()
    if count and high - low + 1 == count:  # every step in [low, high] logged (the usual case): no step list
        steps: Sequence[int] = range(low, high + 1)
    else:
        steps = list(conn.execute(select(_m.step).where(*where).distinct().order_by(_m.step)).scalars())
    chosen = base.sample_steps(steps, max_results)
    for _rid, first, last in conn.execute(
        select(_m.run_id, func.min(_m.step), func.max(_m.step)).where(*where).group_by(_m.run_id)
    ):
        chosen.update((first, last))

    columns = (_m.run_id, _m.value, _m.timestamp, _m.step, _m.is_nan)
    order = (_m.run_id, _m.step, _m.timestamp, _m.value)
    if len(chosen) >= len(steps):  # every step is wanted: no IN list needed
        rows = conn.execute(select(*columns).where(*where).order_by(*order)).all()
    else:
        wanted = sorted(chosen)
        rows = []
        for i in range(0, len(wanted), _IN_CHUNK):
            stmt = select(*columns).where(*where, _m.step.in_(wanted[i : i + _IN_CHUNK])).order_by(*order)
            rows.extend(conn.execute(stmt).all())

    by_run: dict[int, list[Metric]] = defaultdict(list)
    uuid_of = {rid: run_id for run_id, rid in ids.items()}
    for rid, value, ts, step, is_nan in rows:
        by_run[rid].append(Metric(metric_key, metric_from_db(value, is_nan), ts, step, uuid_of[rid]))
    out: list[Metric] = []
    for rid in ids.values():
        points = by_run.get(rid, [])
        points.sort(key=lambda m: (m.step, m.timestamp))  # chunks may interleave
        out.extend(points[: base.METRIC_HISTORY_PAGE])
    return out


def bulk(
    conn: Connection, run_ids: Sequence[str], metric_key: str, max_results: int = base.METRIC_HISTORY_PAGE
) -> list[Metric]:
    """See ``TrackingStore.get_metric_history_bulk``."""
    run_ids = base.validate_bulk_request(run_ids, max_results)
    ids = run_row_ids(conn, run_ids)
    runs = db.runs.c
    stmt = (
        select(runs.run_uuid, _m.value, _m.timestamp, _m.step, _m.is_nan)
        .join(db.runs, runs.id == _m.run_id)
        .where(_m.run_id.in_(list(ids.values())), _m.key == metric_key)
        .order_by(runs.run_uuid, _m.step, _m.timestamp, _m.value)
        .limit(max_results)
    )
    return [
        Metric(metric_key, metric_from_db(value, is_nan), ts, step, run_uuid)
        for run_uuid, value, ts, step, is_nan in conn.execute(stmt)
    ]
