"""Columnar encodings of metric histories and runs: what modelyard's server sends modelyard's client
on its fast routes (``modelyard.server.routes.columnar``), and how the client reads them back.

- A metric history is one Arrow IPC stream with columns ``step`` (int64), ``timestamp`` (int64)
  and ``value`` (float64): ``history_to_arrow`` / ``history_from_arrow``.
- Runs are one JSON object of columns (``runs_to_columns`` / ``runs_from_columns``): ``info`` has
  one list per ``RunInfo`` field; ``metrics``, ``params`` and ``tags`` are flat lists over all runs
  with ``counts`` (how many belong to each run, in order); a non-finite metric value is its
  ``repr`` (``"nan"``, ``"inf"``, ``"-inf"``: JSON has no such numbers); ``extra`` lists
  ``[index, inputs, outputs]`` (standard JSON) for the few runs with dataset/model inputs or outputs.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import NamedTuple

from modelyard.entities.run import Metric, Run, RunData, RunInfo, RunInputs, RunOutputs

RUNS_FORMAT = 1
HISTORY_FORMAT = 1
HISTORY_COLUMNS = ("step", "timestamp", "value")
INFO_FIELDS = (
    "run_id",
    "experiment_id",
    "run_name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
)


class HistoryColumns(NamedTuple):
    """One page of a metric's history as columns (what a store answers without building a
    ``Metric`` per point), and the next page's token."""

    steps: Sequence[int]
    timestamps: Sequence[int]
    values: Sequence[float]
    token: str | None = None

    @classmethod
    def of(cls, points: Sequence[Metric], token: str | None = None) -> HistoryColumns:
        return cls([x.step for x in points], [x.timestamp for x in points], [x.value for x in points], token)


def history_to_arrow(history: HistoryColumns) -> bytes:
    """One page of a metric's history as an Arrow IPC stream (one record batch)."""
    import pyarrow as pa

    batch = pa.record_batch(
        [
            pa.array(history.steps, pa.int64()),
            pa.array(history.timestamps, pa.int64()),
            pa.array(history.values, pa.float64()),
        ],
        names=list(HISTORY_COLUMNS),
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def history_from_arrow(data: bytes, key: str, run_id: str) -> list[Metric]:
    """The points of ``history_to_arrow``'s stream, as ``Metric`` entities of ``run_id``."""
    import pyarrow as pa

    table = pa.ipc.open_stream(data).read_all()
    if tuple(table.column_names) != HISTORY_COLUMNS:
        raise ValueError(f"unexpected history columns {table.column_names}")
    steps, stamps, values = (table.column(c).to_numpy().tolist() for c in HISTORY_COLUMNS)
    return metrics_of(key, run_id, values, stamps, steps)


def slot_setters(cls, names: Sequence[str]) -> tuple:
    """The slot setters of a frozen, slotted dataclass without ``__post_init__``: filling a new
    object (``object.__new__``) through them skips the frozen ``__init__`` (one
    ``object.__setattr__`` per field), about half the cost for a page of runs or a history. Every
    field must be set."""
    return tuple(getattr(cls, n).__set__ for n in names)


_new = object.__new__
_set_key, _set_value, _set_ts, _set_step, _set_run = slot_setters(
    Metric, ("key", "value", "timestamp", "step", "run_id")
)
_INFO_SETTERS = slot_setters(RunInfo, INFO_FIELDS)
_set_data_metrics, _set_data_params, _set_data_tags = slot_setters(RunData, ("metric_objs", "params", "tags"))
_set_run_info, _set_run_data, _set_run_inputs, _set_run_outputs = slot_setters(
    Run, ("info", "data", "inputs", "outputs")
)
_NO_INPUTS = RunInputs()
_NO_OUTPUTS = RunOutputs()


def metrics_of(
    key: str, run_id: str | None, values: Sequence[float], stamps: Sequence[int], steps: Sequence[int]
) -> list[Metric]:
    """Frozen ``Metric`` objects of one key from columns, filled through the slots' setters: about
    twice as fast as the frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field)."""
    out = []
    append = out.append
    for value, ts, step in zip(values, stamps, steps, strict=True):
        m = _new(Metric)
        _set_key(m, key)
        _set_value(m, value)
        _set_ts(m, ts)
        _set_step(m, step)
        _set_run(m, run_id)
        append(m)
    return out


def _wire_value(value: float):
    return value if math.isfinite(value) else repr(value)


def empty_run_columns() -> dict:
    """No runs, as columns: the object ``runs_to_columns`` (and the SQL store, straight from its
    rows) fills, one run after another."""
    return {
        "format": RUNS_FORMAT,
        "info": {k: [] for k in INFO_FIELDS},
        "metrics": {"counts": [], "key": [], "value": [], "timestamp": [], "step": []},
        "params": {"counts": [], "key": [], "value": []},
        "tags": {"counts": [], "key": [], "value": []},
        "extra": [],
    }


def runs_to_columns(runs: Sequence[Run]) -> dict:
    """Runs as columns (see the module's docstring)."""
    out = empty_run_columns()
    info_columns = [(name, out["info"][name].append) for name in INFO_FIELDS]
    m, p, t, extra = out["metrics"], out["params"], out["tags"], out["extra"]
    m_key, m_value, m_ts, m_step, m_count = m["key"], m["value"], m["timestamp"], m["step"], m["counts"]
    p_key, p_value, p_count = p["key"], p["value"], p["counts"]
    t_key, t_value, t_count = t["key"], t["value"], t["counts"]
    finite = math.isfinite
    for i, run in enumerate(runs):
        ri = run.info
        for name, append in info_columns:
            append(getattr(ri, name))
        metrics = run.data.metric_objs
        m_count.append(len(metrics))
        for x in metrics:
            m_key.append(x.key)
            m_value.append(x.value if finite(x.value) else repr(x.value))
            m_ts.append(x.timestamp)
            m_step.append(x.step)
        params, tags = run.data.params, run.data.tags
        p_count.append(len(params))
        p_key.extend(params)
        p_value.extend(params.values())
        t_count.append(len(tags))
        t_key.extend(tags)
        t_value.extend(tags.values())
        if run.inputs.dataset_inputs or run.inputs.model_inputs or run.outputs.model_outputs:
            d = run.to_dict()
            extra.append([i, d["inputs"], d["outputs"]])
    return out


def runs_from_columns(d: dict) -> list[Run]:
    """The runs of ``runs_to_columns``'s object (entities filled through their slots: a page of
    1,000 runs in about a third of the time their ``__init__`` takes)."""
    if d.get("format") != RUNS_FORMAT:
        raise ValueError(f"unknown columnar runs format {d.get('format')!r}")
    info = d["info"]
    columns = [info[k] for k in INFO_FIELDS]
    n = len(columns[0])
    m, p, t = d["metrics"], d["params"], d["tags"]
    m_keys, m_values, m_stamps, m_steps = m["key"], m["value"], m["timestamp"], m["step"]
    counts = (m["counts"], p["counts"], t["counts"])
    if (
        any(len(c) != n for c in (*columns, *counts))
        or not len(m_keys) == len(m_values) == len(m_stamps) == len(m_steps) == sum(counts[0])
        or not len(p["key"]) == len(p["value"]) == sum(counts[1])
        or not len(t["key"]) == len(t["value"]) == sum(counts[2])
    ):
        raise ValueError("columnar runs: ragged columns")
    with collector_paused():
        metrics = []
        append = metrics.append
        for key, value, ts, step in zip(m_keys, m_values, m_stamps, m_steps, strict=True):
            x = _new(Metric)
            _set_key(x, key)
            _set_value(x, value if type(value) is float else float(value))  # "nan", "inf", or an int
            _set_ts(x, ts)
            _set_step(x, step)
            _set_run(x, None)
            append(x)
        p_pairs = iter(zip(p["key"], p["value"], strict=True))
        t_pairs = iter(zip(t["key"], t["value"], strict=True))
        runs = []
        m_at = 0
        s_run_id, s_exp, s_name, s_user, s_status, s_start, s_end, s_uri, s_stage = _INFO_SETTERS
        for row, mc, pc, tc in zip(zip(*columns, strict=True), *counts, strict=True):
            ri = _new(RunInfo)
            run_id, experiment_id, name, user_id, status, start, end, uri, stage = row
            s_run_id(ri, run_id)
            s_exp(ri, experiment_id)
            s_name(ri, name)
            s_user(ri, user_id)
            s_status(ri, status)
            s_start(ri, start)
            s_end(ri, end)
            s_uri(ri, uri)
            s_stage(ri, stage)
            data = _new(RunData)
            _set_data_metrics(data, tuple(metrics[m_at : m_at + mc]))
            m_at += mc
            _set_data_params(data, dict(islice(p_pairs, pc)))
            _set_data_tags(data, dict(islice(t_pairs, tc)))
            run = _new(Run)
            _set_run_info(run, ri)
            _set_run_data(run, data)
            _set_run_inputs(run, _NO_INPUTS)
            _set_run_outputs(run, _NO_OUTPUTS)
            runs.append(run)
    for index, inputs, outputs in d.get("extra") or ():
        full = Run.from_dict(
            {"info": {"run_id": runs[index].info.run_id}, "inputs": inputs, "outputs": outputs}
        )
        runs[index] = Run(runs[index].info, runs[index].data, full.inputs, full.outputs)
    return runs


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a page of runs or a history is built. A page of 1,000
    runs allocates some 40,000 container objects (row tuples, dicts, entities) and so triggers
    dozens of collections that each walk the young objects and, now and then, the whole heap: a
    tenth of the time, to find nothing (these objects form no cycles; reference counting frees
    them). Left off if it was off already (``gc.disable()`` by the application, or another
    thread's page)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
