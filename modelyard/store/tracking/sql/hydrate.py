"""Turning rows into entities, in bulk: one query per child table for a whole page of runs.

The REST answers that carry many runs or points (``runs/search``, ``metrics/get-history``) skip the
entities: ``load_run_dicts`` and ``metric_dicts_from_rows`` write the rows straight into the JSON
objects ``Run.to_dict`` and ``Metric.to_dict`` would make of them (same keys, order and omissions),
for the server to encode. The entities and their ``to_dict`` were most of the server's time: on
PostgreSQL, a top-1,000 search (10,000 runs) took 96 ms of server CPU and a 100,000-point history
542 ms; without them, 53 ms and 164 ms."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter

import orjson
from sqlalchemy import Connection, select

from modelyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from modelyard.entities.columnar import (
    INFO_FIELDS,
    HistoryColumns,
    collector_paused,
    empty_run_columns,
    metrics_of,
    slot_setters,
)
from modelyard.entities.run import json_float
from modelyard.store.tracking.tables import (
    experiment_tags,
    runs,
)

DBL_MAX = sys.float_info.max
_new = object.__new__
_CHUNK = 1000  # ids per IN (...) list


def metric_to_db(value: float) -> tuple[float, bool]:
    """(stored value, is_nan): NaN -> (0, True); +-inf -> +-DBL_MAX (MySQL has no infinities)."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (DBL_MAX if value > 0 else -DBL_MAX), False
    return value, False


def metric_from_db(value: float, is_nan: bool) -> float:
    if is_nan:
        return math.nan
    if value >= DBL_MAX:
        return math.inf
    if value <= -DBL_MAX:
        return -math.inf
    return value


def raw_rows(conn: Connection, stmt) -> list[tuple]:
    """All rows as the driver's plain tuples: skips building SQLAlchemy Row objects, which costs
    more than the database itself for long results (a 100,000-point history). Only for columns
    that need no type processing (numbers and strings)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def metrics_from_rows(rows: Sequence[tuple], key: str, run_id: str | None) -> list[Metric]:
    """Frozen Metric objects from (value, timestamp, step, is_nan) rows (``columnar.metrics_of``,
    which fills their slots directly)."""
    steps, stamps, values, _ = history_columns_from_rows(rows, None)
    return metrics_of(key, run_id, values, stamps, steps)


def metric_dicts_from_rows(rows: Sequence[tuple], key: str, run_id: str) -> list[dict]:
    """``[m.to_dict() for m in metrics_from_rows(rows, key, run_id)]`` without the ``Metric``
    entities: the JSON objects of a ``metrics/get-history`` answer, from (value, timestamp, step,
    is_nan) rows."""
    with collector_paused():
        return [
            {
                "key": key,
                "value": value if not is_nan and -DBL_MAX < value < DBL_MAX else _json_value(value, is_nan),
                "timestamp": ts,
                "step": step,
                "run_id": run_id,
            }
            for value, ts, step, is_nan in rows
        ]


def _json_value(value: float, is_nan: bool) -> float | str:
    """A stored metric value as ``Metric.to_dict`` writes it (``json_float``)."""
    if is_nan or not -DBL_MAX < value < DBL_MAX:
        return json_float(metric_from_db(value, is_nan))
    return value


def history_columns_from_rows(rows: Sequence[tuple], token: str | None) -> HistoryColumns:
    """Columns of (value, timestamp, step, is_nan) rows, no ``Metric`` per point: values read back
    as ``metrics_from_rows`` reads them (NaN, and the infinities stored as +-DBL_MAX)."""
    if not rows:
        return HistoryColumns([], [], [], token)
    values, stamps, steps, nans = zip(*rows, strict=True)
    values = [
        value if not is_nan and -DBL_MAX < value < DBL_MAX else metric_from_db(value, is_nan)
        for value, is_nan in zip(values, nans, strict=True)
    ]
    return HistoryColumns(steps, stamps, values, token)


RUN_COLUMNS = (
    runs.c.id,
    runs.c.run_uuid,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.user_id,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.lifecycle_stage,
    runs.c.artifact_uri,
)


def run_info_from_row(row) -> RunInfo:
    """A RunInfo from a row of RUN_COLUMNS (a SQLAlchemy Row or the driver's plain tuple)."""
    _id, run_uuid, experiment_id, name, user_id, status, start_time, end_time, stage, artifact_uri = row
    info = _new(RunInfo)
    s_run_id, s_exp, s_name, s_user, s_status, s_start, s_end, s_uri, s_stage = _RUN_INFO_SETTERS
    s_run_id(info, run_uuid)
    s_exp(info, str(experiment_id))
    s_name(info, name)
    s_user(info, user_id)
    s_status(info, status)
    s_start(info, start_time)
    s_end(info, end_time)
    s_uri(info, artifact_uri)
    s_stage(info, stage)
    return info


_RUN_INFO_SETTERS = slot_setters(RunInfo, INFO_FIELDS)  # the RunInfo fields in RUN_COLUMNS' order
_set_data_metrics, _set_data_params, _set_data_tags = slot_setters(RunData, ("metric_objs", "params", "tags"))
_set_run_info, _set_run_data, _set_run_inputs, _set_run_outputs = slot_setters(
    Run, ("info", "data", "inputs", "outputs")
)
_set_key, _set_value, _set_ts, _set_step, _set_run = slot_setters(
    Metric, ("key", "value", "timestamp", "step", "run_id")
)
_NO_INPUTS = RunInputs()
_NO_OUTPUTS = RunOutputs()


def run_info_from_values(
    run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri
) -> RunInfo:
    """RunInfo from the values of a ``runs`` row, in the order of RUN_COLUMNS less ``id``."""
    return RunInfo(
        run_id=run_uuid,
        experiment_id=str(experiment_id),
        run_name=name,
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        artifact_uri=artifact_uri,
        lifecycle_stage=lifecycle_stage,
    )


def _chunks(ids: Sequence[int]):
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def load_runs(conn: Connection, rows: Sequence) -> list[Run]:
    """Full Run entities (latest metrics, params, tags, dataset inputs) for rows of RUN_COLUMNS
    (SQLAlchemy Rows or plain tuples): one statement per child table for the whole page (of up to
    ``rawsql.PAGE_CHUNK`` runs), as SQL text whose IN list is bound, not compiled, per call."""
    if not rows:
        return []
    with collector_paused():
        return _load_runs(conn, rows)


def _load_runs(conn: Connection, rows: Sequence) -> list[Run]:
    ids = [r[0] for r in rows]
    run_params, run_tags, run_metrics, run_inputs_, run_outputs_ = _page_children(conn, ids, _latest_metric)
    no_items: list = []
    out = []
    append = out.append
    for r in rows:
        rid = r[0]
        data = _new(RunData)
        metrics = run_metrics.get(rid, no_items)
        if len(metrics) > 1:
            metrics.sort(key=_METRIC_KEY)
        _set_data_metrics(data, tuple(metrics))
        items = run_params.get(rid, no_items)
        _set_data_params(data, dict(sorted(items)))  # (key, value) pairs, keys unique per run
        items = run_tags.get(rid, no_items)
        _set_data_tags(data, dict(sorted(items)))
        run = _new(Run)
        _set_run_info(run, run_info_from_row(r))
        _set_run_data(run, data)
        _set_run_inputs(run, run_inputs_.get(rid, _NO_INPUTS))
        _set_run_outputs(run, run_outputs_.get(rid, _NO_OUTPUTS))
        append(run)
    return out


def load_run_dicts(conn: Connection, rows: Sequence) -> list[dict]:
    """``[run.to_dict() for run in load_runs(conn, rows)]``, built straight from the rows: no
    ``Run``, ``RunInfo``, ``RunData`` or ``Metric`` per run, only the JSON objects a ``runs/search``
    answer holds (same keys, same order, same omissions). Dataset inputs and logged-model links,
    which few runs have, go through their entities' ``to_dict``."""
    if not rows:
        return []
    with collector_paused():
        ids = [r[0] for r in rows]
        run_params, run_tags, run_metrics, run_inputs_, run_outputs_ = _page_children(
            conn, ids, _metric_tuple
        )
        no_items: list = []
        out = []
        append = out.append
        for rid, run_uuid, experiment_id, name, user_id, status, start_time, end_time, stage, uri in rows:
            info = {
                "run_id": run_uuid,
                "run_uuid": run_uuid,
                "run_name": name,
                "experiment_id": str(experiment_id),
                "user_id": user_id,
                "status": status,
            }
            if start_time is not None:
                info["start_time"] = start_time
            if end_time is not None:
                info["end_time"] = end_time
            info["artifact_uri"] = uri
            info["lifecycle_stage"] = stage
            data: dict = {}
            metrics = run_metrics.get(rid, no_items)
            if metrics:
                metrics.sort()  # (key, ...): keys unique per run, so by key as Metric entities are
                data["metrics"] = [
                    {"key": key, "value": value, "timestamp": ts, "step": step}
                    for key, value, ts, step in metrics
                ]
            items = run_params.get(rid, no_items)
            if items:
                items.sort()
                data["params"] = [{"key": key, "value": value} for key, value in items]
            items = run_tags.get(rid, no_items)
            if items:
                items.sort()
                data["tags"] = [{"key": key, "value": value} for key, value in items]
            inputs = run_inputs_.get(rid)
            outputs = run_outputs_.get(rid)
            append(
                {
                    "info": info,
                    "data": data,
                    "inputs": {} if inputs is None else inputs.to_dict(),
                    "outputs": {} if outputs is None else outputs.to_dict(),
                }
            )
        return out


def load_run_columns(conn: Connection, rows: Sequence) -> dict:
    """``columnar.runs_to_columns(load_runs(conn, rows))``, built straight from the rows: the
    columns of a ``search-columnar`` answer (modelyard's own client), with no entity per run,
    metric, param or tag. Dataset inputs and logged-model links, which few runs have, go through
    their entities' ``to_dict`` into ``extra``."""
    columns = empty_run_columns()
    if not rows:
        return columns
    info, m, p, t, extra = (columns[k] for k in ("info", "metrics", "params", "tags", "extra"))
    m_key, m_value, m_ts, m_step, m_count = m["key"], m["value"], m["timestamp"], m["step"], m["counts"]
    p_key, p_value, p_count = p["key"], p["value"], p["counts"]
    t_key, t_value, t_count = t["key"], t["value"], t["counts"]
    with collector_paused():
        ids = [r[0] for r in rows]
        run_params, run_tags, run_metrics, run_inputs_, run_outputs_ = _page_children(conn, ids, _wire_metric)
        no_items: list = []
        add_id, add_exp, add_name, add_user, add_status, add_start, add_end, add_uri, add_stage = (
            info[k].append for k in INFO_FIELDS
        )
        for i, (rid, run_uuid, experiment_id, name, user_id, status, start, end, stage, uri) in enumerate(
            rows
        ):
            add_id(run_uuid)
            add_exp(str(experiment_id))
            add_name(name)
            add_user(user_id)
            add_status(status)
            add_start(start)
            add_end(end)
            add_uri(uri)
            add_stage(stage)
            metrics = run_metrics.get(rid, no_items)
            metrics.sort()  # (key, ...): keys unique per run, so by key as Metric entities are
            m_count.append(len(metrics))
            for key, value, ts, step in metrics:
                m_key.append(key)
                m_value.append(value)
                m_ts.append(ts)
                m_step.append(step)
            for items, count, keys, values in (
                (run_params.get(rid, no_items), p_count, p_key, p_value),
                (run_tags.get(rid, no_items), t_count, t_key, t_value),
            ):
                items.sort()
                count.append(len(items))
                for key, value in items:
                    keys.append(key)
                    values.append(value)
            inputs = run_inputs_.get(rid)
            outputs = run_outputs_.get(rid)
            if inputs is not None or outputs is not None:
                extra.append(
                    [
                        i,
                        {} if inputs is None else inputs.to_dict(),
                        {} if outputs is None else outputs.to_dict(),
                    ]
                )
    return columns


def _wire_metric(key: str, value: float, ts: int, step: int, is_nan: bool) -> tuple:
    """A latest metric as (key, columnar value, timestamp, step): a finite value as it is, NaN and
    the infinities as their ``repr`` (``columnar.runs_to_columns``' values)."""
    if is_nan or not -DBL_MAX < value < DBL_MAX:
        return key, repr(metric_from_db(value, is_nan)), ts, step
    return key, value, ts, step


def _page_children(conn: Connection, ids: Sequence[int], metric) -> tuple[dict, dict, dict, dict, dict]:
    """The children of a page of runs by ``runs.id``: lists of (key, value) params and tags, lists
    of latest metrics (``metric(key, value, timestamp, step, is_nan)`` each), RunInputs and RunOutputs."""
    from modelyard.store.tracking.sql.rawsql import page_rows

    run_params: dict[int, list] = defaultdict(list)
    run_tags: dict[int, list] = defaultdict(list)
    run_metrics: dict[int, list] = defaultdict(list)
    if conn.dialect.name == "postgresql":
        run_inputs_, run_outputs_ = _load_children_pg(conn, ids, run_params, run_tags, run_metrics, metric)
    else:
        for rid, key, value in page_rows(conn, "page_params", ids):
            run_params[rid].append((key, value))
        for rid, key, value in page_rows(conn, "page_tags", ids):
            run_tags[rid].append((key, value))
        for rid, key, value, ts, step, is_nan in page_rows(conn, "page_latest", ids):
            run_metrics[rid].append(metric(key, value, ts, step, is_nan))
        run_inputs_, run_outputs_ = _load_inputs_and_models(conn, ids)
    return run_params, run_tags, run_metrics, run_inputs_, run_outputs_


def _metric_tuple(key: str, value: float, ts: int, step: int, is_nan: bool) -> tuple:
    """A latest metric as (key, JSON value, timestamp, step): ``Metric.to_dict``'s values."""
    return key, _json_value(value, is_nan), ts, step


_METRIC_KEY = attrgetter("key")


def _latest_metric(key: str, value: float, ts: int, step: int, is_nan: bool) -> Metric:
    m = _new(Metric)
    _set_key(m, key)
    _set_value(m, value if not is_nan and -DBL_MAX < value < DBL_MAX else metric_from_db(value, is_nan))
    _set_ts(m, ts)
    _set_step(m, step)
    _set_run(m, None)
    return m


def _load_children_pg(conn: Connection, ids: Sequence[int], params: dict, tags: dict, metrics: dict, metric):
    """PostgreSQL: the page's params, tags, latest metrics, models and dataset inputs in one
    statement (``rawsql.page_children``), the dataset inputs' tags in another when it has any; the
    RunInputs and RunOutputs by run id, as ``_load_inputs_and_models``."""
    from modelyard.store.tracking.sql.rawsql import page_children

    models_in: list[tuple] = []
    models_out: list[tuple] = []
    datasets: list[tuple] = []
    for kind, rid, key, text, number, ts, step, is_nan, model_row in page_children(conn, ids):
        if kind == 0:
            params[rid].append((key, text))
        elif kind == 1:
            tags[rid].append((key, text))
        elif kind == 2:
            metrics[rid].append(metric(key, number, ts, step, is_nan))
        elif kind == 3:
            models_in.append((rid, model_row, key))
        elif kind == 4:
            models_out.append((rid, model_row, step, key))
        else:  # (run_inputs.id, run id, name, digest, source type, source, schema, profile)
            datasets.append((model_row, rid, *orjson.loads(text)))
    models_in.sort()  # the order of the general path: by run, then logged model row (then step)
    models_out.sort()
    datasets.sort()  # by run_inputs.id, as page_inputs orders them
    return _inputs_and_models(
        conn,
        ids,
        [(rid, model_id) for rid, _, model_id in models_in],
        [(r, m, s) for r, _, s, m in models_out],
        datasets,
    )


def _load_inputs_and_models(conn: Connection, ids: Sequence[int]) -> tuple[dict, dict]:
    """RunInputs and RunOutputs of the runs that have any (by ``runs.id``)."""
    from modelyard.store.tracking.sql.rawsql import page_rows

    return _inputs_and_models(
        conn, ids, page_rows(conn, "page_model_inputs", ids), page_rows(conn, "page_model_outputs", ids)
    )


def _inputs_and_models(
    conn: Connection,
    ids: Sequence[int],
    model_inputs: Sequence[tuple],
    model_outputs: Sequence[tuple],
    dataset_rows: Sequence[tuple] | None = None,
) -> tuple[dict, dict]:
    """RunInputs and RunOutputs by run id: the (run id, model id) and (run id, model id, step) rows
    of the models given, in order; the dataset inputs given as rows of ``page_inputs``, else read here."""
    from modelyard.store.tracking.sql.rawsql import page_rows

    datasets_of: dict[int, list[DatasetInput]] = defaultdict(list)
    rows = page_rows(conn, "page_inputs", ids) if dataset_rows is None else dataset_rows
    if rows:
        tags_by_input: dict[int, list[InputTag]] = defaultdict(list)
        for input_id, key, value in page_rows(conn, "page_input_tags", [r[0] for r in rows]):
            tags_by_input[input_id].append(InputTag(key, value))
        for input_id, rid, name, digest, source_type, source, schema, profile in rows:
            dataset = Dataset(name, digest, source_type, source, schema, profile)
            datasets_of[rid].append(
                DatasetInput(dataset, tuple(sorted(tags_by_input.get(input_id, ()), key=lambda t: t.key)))
            )
    models_in: dict[int, list[str]] = defaultdict(list)
    for rid, model_id in model_inputs:
        models_in[rid].append(model_id)
    models_out: dict[int, list[LoggedModelOutput]] = defaultdict(list)
    for rid, model_id, step in model_outputs:
        models_out[rid].append(LoggedModelOutput(model_id, step))
    inputs = {
        rid: RunInputs(
            dataset_inputs=tuple(datasets_of.get(rid, ())), model_inputs=tuple(models_in.get(rid, ()))
        )
        for rid in datasets_of.keys() | models_in.keys()
    }
    outputs = {rid: RunOutputs(model_outputs=tuple(found)) for rid, found in models_out.items()}
    return inputs, outputs


def load_experiments(conn: Connection, rows: Sequence) -> list[Experiment]:
    if not rows:
        return []
    ids = [r.experiment_id for r in rows]
    exp_tags: dict[int, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for eid, key, value in conn.execute(
            select(experiment_tags.c.experiment_id, experiment_tags.c.key, experiment_tags.c.value).where(
                experiment_tags.c.experiment_id.in_(chunk)
            )
        ):
            exp_tags[eid][key] = value
    return [
        Experiment(
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location,
            lifecycle_stage=r.lifecycle_stage,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
            tags=dict(sorted(exp_tags.get(r.experiment_id, {}).items())),
        )
        for r in rows
    ]
