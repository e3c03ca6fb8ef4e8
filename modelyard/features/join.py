"""Joining features onto input rows in DuckDB, over Arrow data (no Python loop over rows); an input
held in memory (training sets, ``gather``) joins a one-key table with NumPy over the table's stored
key and time order instead, without sorting either side.

Time-series tables join **as of** the row's timestamp (``ASOF LEFT JOIN``: the latest feature row
at or before it, never after); other tables join on their primary keys. A time-series table looked
up without a timestamp gives each key its latest row. Input row order is kept. Defaults fill a
feature where no row matched or its value is null. ``hits`` counts, per lookup, the rows that
found a feature row; the rest are the missing keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from modelyard.exceptions import InvalidParameterValue
from modelyard.features import delta
from modelyard.features.spec import ResolvedLookup

logger = logging.getLogger(__name__)

ROW = "__modelyard_row"
LEFT = "__modelyard_input"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(memory_limit: str | None = None, threads: int | None = None):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _kind(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return str(t)


def check_input(schema: pa.Schema, lookups: Sequence[ResolvedLookup], tables: dict[str, pa.Schema]) -> None:
    """Every lookup key and timestamp column present in the input, of a type its table key can match."""
    for lk in lookups:
        stored = tables[lk.table_name]
        for mine, theirs in zip(lk.lookup_key, lk.primary_keys, strict=True):
            if mine not in schema.names:
                raise InvalidParameterValue(
                    f"The input has no column {mine!r}, the lookup key of feature table {lk.table_name!r}"
                )
            if _kind(schema.field(mine).type) != _kind(stored.field(theirs).type):
                raise InvalidParameterValue(
                    f"Lookup key {mine!r} is {schema.field(mine).type} but {lk.table_name}.{theirs} is "
                    f"{stored.field(theirs).type}"
                )
        if lk.timestamp_lookup_key is not None:
            ts = lk.timestamp_lookup_key
            if ts not in schema.names:
                raise InvalidParameterValue(
                    f"The input has no column {ts!r}, the timestamp lookup key of feature table {lk.table_name!r}"
                )
            if _kind(schema.field(ts).type) != "time":
                raise InvalidParameterValue(
                    f"Timestamp lookup key {ts!r} is {schema.field(ts).type}; feature table {lk.table_name!r} "
                    f"needs a timestamp like its key {lk.timestamp_key!r} ({stored.field(lk.timestamp_key).type})"
                )


def register_table(con, name: str, lk: ResolvedLookup) -> str:
    """Make the lookup's table (at its version) scannable by DuckDB; the name to select from. A local
    table is read by DuckDB's own Parquet reader from the version's file list; others via Arrow."""
    files = delta.local_files(lk.location, lk.table_version)
    if files:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    else:
        con.register(name, delta.dataset(lk.location, lk.table_version))
    return name


@dataclass
class JoinPlan:
    sql: str
    lookups: tuple[ResolvedLookup, ...]
    outputs: tuple[tuple[str, object], ...]  # (output column, default)
    hit_columns: tuple[str, ...]
    left_columns: tuple[str, ...]


def plan(con, left_columns: Sequence[str], lookups: Sequence[ResolvedLookup], *, skip: set[str] = frozenset(),
         ordered: bool = True) -> JoinPlan:
    """Register each feature table (at its version) with ``con`` and build the join over ``LEFT``.

    Features whose output column is in ``skip`` (already in the input) are not looked up.
    """
    select = [f"l.{_q(c)}" for c in left_columns]
    joins: list[str] = []
    outputs: list[tuple[str, object]] = []
    hits: list[str] = []
    used: list[ResolvedLookup] = []
    for i, lk in enumerate(lookups):
        wanted = [f for f in lk.features if f.output_name not in skip]
        if not wanted:
            continue
        used.append(lk)
        alias, source = f"f{i}", register_table(con, f"__modelyard_ft{i}", lk)
        cols = list(lk.primary_keys) + ([lk.timestamp_key] if lk.timestamp_key else []) + [f.name for f in wanted]
        projected = f"SELECT {', '.join(_q(c) for c in dict.fromkeys(cols))} FROM {source}"
        on = " AND ".join(f"l.{_q(a)} = {alias}.{_q(b)}" for a, b in zip(lk.lookup_key, lk.primary_keys, strict=True))
        if lk.timestamp_key and lk.timestamp_lookup_key:
            on += f" AND l.{_q(lk.timestamp_lookup_key)} >= {alias}.{_q(lk.timestamp_key)}"
            joins.append(f"ASOF LEFT JOIN ({projected}) {alias} ON {on}")
        elif lk.timestamp_key:  # a time series looked up without a time: each key's latest row
            partition = ", ".join(_q(k) for k in lk.primary_keys)
            latest = f"{projected} QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {_q(lk.timestamp_key)} DESC) = 1"
            joins.append(f"LEFT JOIN ({latest}) {alias} ON {on}")
        else:
            joins.append(f"LEFT JOIN ({projected}) {alias} ON {on}")
        for f in wanted:
            select.append(f"{alias}.{_q(f.name)} AS {_q(f.output_name)}")
            outputs.append((f.output_name, f.default))
        hit = f"__modelyard_hit{i}"
        select.append(f"({alias}.{_q(lk.primary_keys[0])} IS NOT NULL) AS {hit}")
        hits.append(hit)
    order = f" ORDER BY l.{_q(ROW)}" if ordered else ""
    sql = f"SELECT {', '.join(select)} FROM {LEFT} l {' '.join(joins)}{order}"
    return JoinPlan(sql, tuple(used), tuple(outputs), tuple(hits), tuple(c for c in left_columns if c != ROW))


def with_row_numbers(table: pa.Table) -> pa.Table:
    import numpy as np

    return table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def finish(batch: pa.RecordBatch | pa.Table, p: JoinPlan, counts: dict[str, int]) -> pa.Table:
    """A joined batch: defaults filled, hits counted into ``counts``, helper columns dropped."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    for lk, hit in zip(p.lookups, p.hit_columns, strict=True):
        counts[lk.table_name] = counts.get(lk.table_name, 0) + int(pc.sum(table.column(hit)).as_py() or 0)
    for name, default in p.outputs:
        if default is not None:
            col = table.column(name)
            idx = table.column_names.index(name)
            table = table.set_column(idx, name, pc.fill_null(col, pa.scalar(default).cast(col.type)))
    return table.select(list(p.left_columns) + [name for name, _ in p.outputs])


def run(con, left, lookups: Sequence[ResolvedLookup], *, skip: set[str] = frozenset(),
        batch_rows: int = 1_000_000, ordered: bool = True) -> tuple[Iterator[pa.Table], JoinPlan, dict[str, int]]:
    """Join ``left`` with the lookups; yields joined tables of at most ``batch_rows`` rows.

    ``ordered``: ``left`` is an Arrow table whose row order the result keeps. Otherwise ``left`` is
    a DuckDB table function over files (``read_parquet('...')``: DuckDB plans best over its own
    readers; an Arrow dataset as the probe side of an ASOF join was 15x slower) or any Arrow object
    DuckDB scans, and rows come in join order,
    so DuckDB streams them (spilling to disk past its memory limit) instead of sorting them all.
    """
    if ordered:
        left = with_row_numbers(left)
        con.register(LEFT, left)
        columns = left.column_names
    elif isinstance(left, str):  # a DuckDB table function over files, e.g. read_parquet('...')
        con.execute(f"CREATE OR REPLACE TEMP VIEW {LEFT} AS SELECT * FROM {left}")
        columns = con.sql(f"SELECT * FROM {LEFT} LIMIT 0").columns
    else:
        con.register(LEFT, left)
        columns = list(left.schema.names)
    p = plan(con, columns, lookups, skip=skip, ordered=ordered)
    counts: dict[str, int] = {}
    logger.debug("feature join: %s", p.sql)
    reader = con.sql(p.sql).to_arrow_reader(batch_rows)

    def batches() -> Iterator[pa.Table]:
        for batch in reader:
            yield finish(batch, p, counts)

    return batches(), p, counts


def source_schema(con, source: str) -> pa.Schema:
    """The Arrow schema of a DuckDB table function over files."""
    return con.sql(f"SELECT * FROM {source} LIMIT 0").to_arrow_table().schema


RID = "__modelyard_rid"


def _matches(con, left: pa.Table, lk: ResolvedLookup, right_keys: pa.Table) -> pa.Table:
    """``(ROW, RID)`` for each input row that found a feature row: which row of ``right_keys``
    (the table's key columns plus ``RID``) it takes. Only narrow key columns pass through DuckDB."""
    wanted_left = list(dict.fromkeys([*lk.lookup_key, *([lk.timestamp_lookup_key] if lk.timestamp_key and lk.timestamp_lookup_key else []), ROW]))
    con.register("__modelyard_keys_l", left.select(wanted_left))
    con.register("__modelyard_keys_r", right_keys)
    on = " AND ".join(f"l.{_q(a)} = r.{_q(b)}" for a, b in zip(lk.lookup_key, lk.primary_keys, strict=True))
    right = "__modelyard_keys_r"
    if lk.timestamp_key and lk.timestamp_lookup_key:
        on += f" AND l.{_q(lk.timestamp_lookup_key)} >= r.{_q(lk.timestamp_key)}"
        sql = f"SELECT l.{_q(ROW)}, r.{_q(RID)} FROM __modelyard_keys_l l ASOF JOIN {right} r ON {on}"
    else:
        if lk.timestamp_key:  # a time series looked up without a time: each key's latest row
            partition = ", ".join(_q(k) for k in lk.primary_keys)
            right = (f"(SELECT * FROM {right} QUALIFY row_number() OVER (PARTITION BY {partition} "
                     f"ORDER BY {_q(lk.timestamp_key)} DESC) = 1)")
        sql = f"SELECT l.{_q(ROW)}, r.{_q(RID)} FROM __modelyard_keys_l l JOIN {right} r ON {on}"
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("__modelyard_keys_l")
        con.unregister("__modelyard_keys_r")


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _ticks(at: pa.ChunkedArray, unit: str):
    """``at`` (timestamps) as int64 ticks of ``unit``, floored (a label at 10:00:00.0000009 is at or
    after a feature row at 10:00:00.000000 us), and its validity; None when a value would overflow."""
    import numpy as np

    values = pc.fill_null(at.combine_chunks(), 0).view(pa.int64()).to_numpy()
    valid = at.combine_chunks().is_valid().to_numpy(zero_copy_only=False)
    mine, theirs = _PER_SECOND[at.type.unit], _PER_SECOND[unit]
    if mine > theirs:
        values = np.floor_divide(values, mine // theirs)
    elif mine < theirs:
        scale = theirs // mine
        if values.size and np.abs(values).max() >= np.iinfo(np.int64).max // scale:
            return None
        values = values * scale
    return values, valid


def _positions(left: pa.Table, lk: ResolvedLookup, data: pa.Table):
    """For each input row, the row of ``data`` (the table read) it takes, -1 for none; None when the
    lookup is not one this path handles (the caller joins in DuckDB then).

    Handled: one key column (and a timestamp column for time series). Time series are written in
    key and time order (``delta.sorted_by``), which one pass checks; a table that is not (a merge
    writes in its own order) is ordered by Arrow's sort of its key and time columns, fast on the
    few sorted runs such tables hold. Then each key's rows are one run, found with a hash lookup of
    the input keys among the runs' keys, and the as-of row is a binary search within the run, done
    for all input rows at once: the input is never sorted.
    """
    import numpy as np

    if len(lk.primary_keys) != 1:
        return None
    key = data.column(lk.primary_keys[0]).combine_chunks()
    try:
        mine = left.column(lk.lookup_key[0]).cast(key.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not lk.timestamp_key:
        return pc.fill_null(pc.index_in(mine, key), -1).to_numpy().astype(np.int64, copy=False)
    ts = data.column(lk.timestamp_key)
    if not pa.types.is_timestamp(ts.type) or ts.null_count or key.null_count:
        return None
    if lk.timestamp_lookup_key is not None and not pa.types.is_timestamp(left.schema.field(lk.timestamp_lookup_key).type):
        return None
    n = len(key)
    if n == 0:
        return np.full(left.num_rows, -1, dtype=np.int64)
    ts = ts.combine_chunks()
    ticks = ts.view(pa.int64()).to_numpy()
    order = None  # the rows in key and time order when they are not stored so (e.g. after a merge)
    changes, starts, run_keys = _runs(key)
    if len(pc.unique(run_keys)) != len(starts) or not (changes | (ticks[1:] >= ticks[:-1])).all():
        order = pc.sort_indices(pa.table({"k": key, "t": ts}), [("k", "ascending"), ("t", "ascending")])
        key, order = key.take(order), order.to_numpy().astype(np.int64)
        ticks = ticks[order]
        changes, starts, run_keys = _runs(key)
    positions = _search(left, lk, mine, ts.type.unit, ticks, starts, run_keys)
    if order is None or positions is None:
        return positions
    return np.where(positions >= 0, order[np.maximum(positions, 0)], -1)


def _runs(key: pa.Array):
    """Where ``key`` changes from the row before, the start of each run of equal keys, their keys."""
    import numpy as np

    changes = pc.not_equal(key[1:], key[:-1]).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.concatenate(([True], changes)))
    return changes, starts, key.take(pa.array(starts))


def _search(left: pa.Table, lk: ResolvedLookup, mine, unit: str, ticks, starts, run_keys):
    """``_positions`` over rows in key and time order (``ticks``: the times; ``starts``: where each
    key's run begins; ``run_keys``: its key)."""
    import numpy as np

    n = len(ticks)
    ends = np.append(starts[1:], n)
    code = pc.index_in(mine, run_keys)
    found = code.is_valid().to_numpy(zero_copy_only=False)
    code = pc.fill_null(code, 0).to_numpy()
    if lk.timestamp_lookup_key is None:  # each key's latest row
        return np.where(found, ends[code] - 1, -1)
    at = _ticks(left.column(lk.timestamp_lookup_key), unit)
    if at is None:
        return None
    at, valid = at
    lo, hi = starts[code], ends[code]
    first = lo.copy()
    for _ in range(int((ends - starts).max()).bit_length()):  # upper bound of ``at`` in each run
        mid = (lo + hi) >> 1
        right = (mid < hi) & (ticks[np.minimum(mid, n - 1)] <= at)
        lo = np.where(right, mid + 1, lo)
        hi = np.where(right, hi, mid)
    return np.where(found & valid & (lo > first), lo - 1, -1)


def gather(con, left: pa.Table, lookups: Sequence[ResolvedLookup], *,
           skip: set[str] = frozenset()) -> tuple[pa.Table, dict[str, int]]:
    """The join of ``run`` for an input held in memory, in its row order, as one table.

    Each table is read once (the columns the lookup needs, by Arrow) and which of its rows
    each input row takes is found by ``_positions`` (no sort), or else by DuckDB joining only the
    key columns (input keys and timestamps with a row number; the table's keys with a row id), so
    its sorts move a few narrow columns, not every feature; the features are then taken by row
    position with Arrow (zero copy of the input's own columns). ``con``: the DuckDB connection for
    that, or None to open one only if needed (and close it).
    """
    import numpy as np

    numbered, own = None, con is None
    columns = {name: left.column(name) for name in left.column_names}
    counts: dict[str, int] = {}
    try:
        for lk in lookups:
            wanted = [f for f in lk.features if f.output_name not in skip]
            if not wanted:
                continue
            keys = list(lk.primary_keys) + ([lk.timestamp_key] if lk.timestamp_key else [])
            data = delta.read(lk.location, lk.table_version, list(dict.fromkeys(keys + [f.name for f in wanted])))
            positions = _positions(left, lk, data)
            if positions is None:
                if numbered is None:
                    numbered = with_row_numbers(left.select([c for c in dict.fromkeys(
                        c for lk in lookups
                        for c in (*lk.lookup_key, *([lk.timestamp_lookup_key] if lk.timestamp_lookup_key else ()))
                    )]))
                right_keys = data.select(keys).append_column(RID, pa.array(np.arange(data.num_rows, dtype=np.int64)))
                con = con or connect()
                found = _matches(con, numbered, lk, right_keys)
                positions = np.full(left.num_rows, -1, dtype=np.int64)
                positions[found.column(ROW).to_numpy()] = found.column(RID).to_numpy()
            index = pa.array(positions, mask=positions < 0)
            counts[lk.table_name] = counts.get(lk.table_name, 0) + int(np.count_nonzero(positions >= 0))
            for f in wanted:
                col = data.column(f.name).take(index)
                if f.default is not None:
                    col = pc.fill_null(col, pa.scalar(f.default).cast(col.type))
                columns[f.output_name] = col
    finally:
        if own and con is not None:
            con.close()
    return pa.table(columns), counts
