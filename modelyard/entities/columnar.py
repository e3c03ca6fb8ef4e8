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

import math
from collections.abc import Sequence
from itertools import islice
from typing import NamedTuple

from modelyard.entities.run import Metric, Run, RunData, RunInfo

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


_new = object.__new__
_set_key, _set_value, _set_ts, _set_step, _set_run = (
    Metric.key.__set__,  # type: ignore[attr-defined]
    Metric.value.__set__,  # type: ignore[attr-defined]
    Metric.timestamp.__set__,  # type: ignore[attr-defined]
    Metric.step.__set__,  # type: ignore[attr-defined]
    Metric.run_id.__set__,  # type: ignore[attr-defined]
)


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


def runs_to_columns(runs: Sequence[Run]) -> dict:
    """Runs as columns (see the module's docstring)."""
    info: dict[str, list] = {k: [] for k in INFO_FIELDS}
    info_columns = [(name, info[name].append) for name in INFO_FIELDS]
    m_key, m_value, m_ts, m_step, m_count = [], [], [], [], []
    p_key, p_value, p_count = [], [], []
    t_key, t_value, t_count = [], [], []
    extra = []
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
    return {
        "format": RUNS_FORMAT,
        "info": info,
        "metrics": {"counts": m_count, "key": m_key, "value": m_value, "timestamp": m_ts, "step": m_step},
        "params": {"counts": p_count, "key": p_key, "value": p_value},
        "tags": {"counts": t_count, "key": t_key, "value": t_value},
        "extra": extra,
    }


def runs_from_columns(d: dict) -> list[Run]:
    """The runs of ``runs_to_columns``'s object."""
    if d.get("format") != RUNS_FORMAT:
        raise ValueError(f"unknown columnar runs format {d.get('format')!r}")
    info = d["info"]
    n = len(info["run_id"])
    infos = [RunInfo(*row) for row in zip(*(info[k] for k in INFO_FIELDS), strict=True)]
    if len(infos) != n:
        raise ValueError("columnar runs: ragged info columns")
    m, p, t = d["metrics"], d["params"], d["tags"]
    values = [v if type(v) is float else float(v) for v in m["value"]]
    metrics = iter([Metric(*x) for x in zip(m["key"], values, m["timestamp"], m["step"], strict=True)])
    p_pairs = iter(zip(p["key"], p["value"], strict=True))
    t_pairs = iter(zip(t["key"], t["value"], strict=True))
    runs = [
        Run(ri, RunData(tuple(islice(metrics, mc)), dict(islice(p_pairs, pc)), dict(islice(t_pairs, tc))))
        for ri, mc, pc, tc in zip(infos, m["counts"], p["counts"], t["counts"], strict=True)
    ]
    for index, inputs, outputs in d.get("extra") or ():
        full = Run.from_dict({"info": {"run_id": infos[index].run_id}, "inputs": inputs, "outputs": outputs})
        runs[index] = Run(runs[index].info, runs[index].data, full.inputs, full.outputs)
    return runs
