"""Metric histories of several runs at once, in SQL: the chart queries of the UI.

- :func:`bulk_interval` samples steps in the database: ``COUNT(DISTINCT step), MIN, MAX`` over the
  ``(run_id, key, step)`` index (when every step between MIN and MAX was logged, the usual case,
  the sample is computed from those three numbers; otherwise one ``SELECT DISTINCT step``), each
  run's ``MIN/MAX(step)`` (two seeks), then only the points at the chosen steps are read. Past
  ``LARGE_HISTORY`` points the steps are not counted: one seek per sample picks the first step at or
  after evenly spaced values (the same steps when none is missing), so a 10,000,000-point history
  costs about what a 1,000-point one does. Memory stays proportional to the answer (plus the distinct
  steps, integers only), not to the histories (MLflow #20927, #24169).
- :func:`bulk` reads whole histories of up to 100 runs in one ordered, limited query.

The store calls these inside its own read transaction; rules and sampling are shared with
every store through ``store/tracking/base.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, text

from modelyard.entities import Metric
from modelyard.exceptions import ResourceDoesNotExist
from modelyard.store.tracking import base
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql.hydrate import metric_from_db

_IN_CHUNK = 500  # bound parameters per IN (...) list
# Past this many points (of the runs asked, in the step range), a chart's sample is picked by index
# seeks instead of from the distinct steps, whose count reads every point (seconds at 10,000,000).
LARGE_HISTORY = 100_000
_UNION_CHUNK = 250  # seeks per statement

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

    # Each run's first and last step: two index seeks per run (a GROUP BY would read every point).
    spans: dict[int, tuple[int, int]] = {}
    for rid in ids.values():
        one = [_m.run_id == rid, *where[1:]]
        # two scalar subqueries: SQLite seeks for a lone MIN or MAX, but reads the range for both
        first, last = conn.execute(
            select(
                select(func.min(_m.step)).where(*one).scalar_subquery(),
                select(func.max(_m.step)).where(*one).scalar_subquery(),
            )
        ).one()
        if first is not None:
            spans[rid] = (first, last)
    if not spans:
        return []
    ends = {step for span in spans.values() for step in span}
    probe = select(_m.step).where(*where).limit(LARGE_HISTORY + 1).subquery()
    if conn.execute(select(func.count()).select_from(probe)).scalar_one() > LARGE_HISTORY:
        steps: Sequence[int] = range(0)
        step_range = (start_step, end_step) if start_step is not None and end_step is not None else None
        chosen = _spaced_steps(conn, spans, metric_key, step_range, max_results)
    else:
        count, low, high = conn.execute(
            select(func.count(func.distinct(_m.step)), func.min(_m.step), func.max(_m.step)).where(*where)
        ).one()
        if high - low + 1 == count:  # every step in [low, high] logged (the usual case): no step list
            steps = range(low, high + 1)
        else:
            steps = list(conn.execute(select(_m.step).where(*where).distinct().order_by(_m.step)).scalars())
        chosen = base.sample_steps(steps, max_results)
    chosen.update(ends)

    columns = (_m.run_id, _m.value, _m.timestamp, _m.step, _m.is_nan)
    order = (_m.run_id, _m.step, _m.timestamp, _m.value)
    if steps and len(chosen) >= len(steps):  # every step is wanted: no IN list needed
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


def _spaced_steps(
    conn: Connection,
    spans: dict[int, tuple[int, int]],
    metric_key: str,
    step_range: tuple[int, int] | None,
    max_results: int,
) -> set[int]:
    """A large history's sample, by step value: for ``max_results`` targets evenly spaced over the
    runs' steps, the first step at or after each that any of the runs logged. ``spans`` holds each
    run's first and last step: a target before a run's first step is answered by it, one past its
    last by nothing, and only those in between cost an index seek (a few hundred per statement).
    When every step in the span was logged (the usual case) these are exactly the steps
    ``base.sample_steps`` picks by rank; with gaps, the steps next after evenly spaced values."""
    low, high = min(f for f, _ in spans.values()), max(last for _, last in spans.values())
    if max_results == 1 or high == low:
        return {low, high}
    targets = sorted({low + (i * (high - low)) // (max_results - 1) for i in range(max_results)})
    # Written as text: building a thousand SELECTs with SQLAlchemy costs more than running them.
    # The targets are integers computed here; the run, key and range are bound.
    quote = conn.dialect.identifier_preparer.quote
    cond = f"run_id = :rid AND {quote('key')} = :key" + (" AND step <= :hi" if step_range else "")
    params = {"key": metric_key, **({"hi": step_range[1]} if step_range else {})}
    best: dict[int, int] = {}

    def offer(target: int, step: int | None) -> None:
        if step is not None and (target not in best or step < best[target]):
            best[target] = step

    for rid, (first, last) in spans.items():
        inside = [t for t in targets if first < t <= last]
        for t in targets:
            if t <= first:
                offer(t, first)
        for i in range(0, len(inside), _UNION_CHUNK):
            sql = " UNION ALL ".join(
                f"SELECT {int(t)} AS target, MIN(step) AS step FROM metrics WHERE {cond} AND step >= {int(t)}"
                for t in inside[i : i + _UNION_CHUNK]
            )
            for target, step in conn.execute(text(sql), {"rid": rid, **params}):
                offer(target, step)
    return set(best.values())


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
