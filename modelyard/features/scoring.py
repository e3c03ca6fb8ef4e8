"""``score_batch``: join a model's features onto the input (as of each row's time), then predict.

Databricks' semantics: the input must hold the lookup keys (and the timestamp lookup keys, of the
feature table's timestamp kind) and no ``prediction`` column, else a clear error before any work;
a column already in the input wins over the stored feature; the result is every input column +
the looked-up features + ``prediction``. Rows whose key found no feature row get the lookup's
default or null; their count per table is logged and kept in ``result.attrs["missing_keys"]``.

The join runs in DuckDB and the model is called on large Arrow chunks (``batch_rows``), so an
input read lazily (``score_stream``, used by the CLI for Parquet/CSV/JSON/Delta) is scored with
bounded memory. A model without a feature spec is scored the same way, without the join.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from modelyard.exceptions import InvalidParameterValue
from modelyard.features import delta, join
from modelyard.features.spec import FeatureSpec

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
DEFAULT_BATCH_ROWS = 100_000
RESULT_TYPES = {
    "double": pa.float64(), "float": pa.float32(), "long": pa.int64(), "int": pa.int32(),
    "integer": pa.int32(), "string": pa.string(), "boolean": pa.bool_(),
}


@dataclass
class ScoringModel:
    """A loaded pyfunc model and its feature spec (None for a model logged without one)."""

    model: Any
    spec: FeatureSpec | None
    uri: str = ""

    @classmethod
    def load(cls, model_uri: str, tracking_uri: str | None = None) -> ScoringModel:
        from modelyard.models.load import load_pyfunc

        model = load_pyfunc(model_uri, tracking_uri=tracking_uri)
        spec = FeatureSpec.load(model.model_dir) if model.model_dir else None
        return cls(model, spec.at_latest_versions() if spec is not None else None, model_uri)


@dataclass
class ScoreReport:
    rows: int = 0
    missing_keys: dict[str, int] = field(default_factory=dict)


def check_input(schema: pa.Schema, sm: ScoringModel) -> set[str]:
    """Refuse an input that cannot be scored (naming the column); the features it already has."""
    if PREDICTION in schema.names:
        raise InvalidParameterValue(f"The input already has a {PREDICTION!r} column; rename or drop it")
    if sm.spec is None:
        return set()
    lookups = sm.spec.lookups
    present = set(schema.names)
    join.check_input(schema, lookups, {lk.table_name: delta.stored_schema(lk.location) for lk in lookups})
    for lk in lookups:
        if lk.timestamp_lookup_key and lk.timestamp_type:
            want_tz = "tz=" in lk.timestamp_type
            got = schema.field(lk.timestamp_lookup_key).type
            has_tz = pa.types.is_timestamp(got) and got.tz is not None
            if want_tz != has_tz:
                raise InvalidParameterValue(
                    f"Column {lk.timestamp_lookup_key!r} is {got} but feature table {lk.table_name!r} keys its rows by "
                    f"{lk.timestamp_type}: both must be timezone-aware or both naive"
                )
    for col in sm.spec.source_columns:
        if col not in present:
            raise InvalidParameterValue(f"The input has no column {col!r}, which the model takes as an input")
    return {out for lk in lookups for out in lk.output_names if out in present}


def _prediction_array(preds: Any, n: int, result_type: str | None) -> pa.Array:
    """One prediction per row as an Arrow array: a 1-D output as is, a one-column output as its
    column, a wider one as a list per row; cast to ``result_type`` when given."""
    import numpy as np
    import pandas as pd

    if isinstance(preds, pd.DataFrame | pd.Series):
        preds = preds.to_numpy()
    arr = np.asarray(preds)
    if arr.ndim > 1:
        arr = arr[:, 0] if arr.shape[1] == 1 else arr
    out = pa.array(list(arr)) if arr.ndim > 1 else pa.array(arr)
    if len(out) != n:
        raise InvalidParameterValue(f"The model returned {len(out)} predictions for {n} rows")
    if result_type is not None:
        target = RESULT_TYPES.get(result_type.lower())
        if target is None:
            raise InvalidParameterValue(f"result_type must be one of {', '.join(RESULT_TYPES)}, got {result_type!r}")
        out = out.cast(target)
    return out


def predict_table(sm: ScoringModel, table: pa.Table, result_type: str | None = None) -> pa.Table:
    """``table`` + the model's ``prediction`` (the model sees its input columns, in training order)."""
    columns = list(sm.spec.input_columns) if sm.spec is not None else table.column_names
    frame = table.select(columns).to_pandas()
    return table.append_column(PREDICTION, _prediction_array(sm.model.predict(frame), table.num_rows, result_type))


def score_stream(
    sm: ScoringModel,
    left: Any,
    schema: pa.Schema | None = None,
    *,
    ordered: bool,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    result_type: str | None = None,
    memory_limit: str | None = None,
    report: ScoreReport | None = None,
) -> Iterator[pa.Table]:
    """Scored tables of at most ``batch_rows`` rows. ``left`` is an Arrow table (``ordered``: the
    input's row order is kept), a DuckDB table function over files (``read_parquet('...')``, read
    lazily) or an Arrow object DuckDB scans. Input errors are raised before any scoring."""
    report = report if report is not None else ScoreReport()
    con = join.connect(memory_limit=memory_limit)
    try:
        if schema is None:
            schema = join.source_schema(con, left) if isinstance(left, str) else left.schema
        skip = check_input(schema, sm)
        if sm.spec is None or not sm.spec.lookups:
            if isinstance(left, str):
                source = con.sql(f"SELECT * FROM {left}").to_arrow_reader(batch_rows)
            else:
                source = left.to_batches(batch_rows) if isinstance(left, pa.Table) else _batches(left, batch_rows)
            for batch in source:
                table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
                report.rows += table.num_rows
                yield predict_table(sm, table, result_type)
            return
        batches, _, counts = join.run(con, left, sm.spec.lookups, skip=skip, batch_rows=batch_rows, ordered=ordered)
        for table in batches:
            report.rows += table.num_rows
            yield predict_table(sm, table, result_type)
        report.missing_keys = {name: report.rows - hits for name, hits in counts.items()}
    finally:
        con.close()
    for name, missing in report.missing_keys.items():
        if missing:
            logger.warning("%d of %d rows found no row in feature table %s", missing, report.rows, name)


def _batches(source: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if hasattr(source, "to_batches"):  # a pyarrow dataset
        yield from source.to_batches(batch_size=batch_rows)
    else:
        yield from source


def score_batch(
    model_uri: str,
    df: Any,
    *,
    tracking_uri: str | None = None,
    result_type: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    memory_limit: str | None = None,
    on_batch: Callable[[int], None] | None = None,
):
    """Score ``df`` (pandas or Arrow; a PySpark DataFrame runs on Spark) with the model at ``model_uri``."""
    if type(df).__module__.startswith("pyspark"):
        from modelyard.features.spark import score_batch_spark

        return score_batch_spark(model_uri, df, tracking_uri=tracking_uri, result_type=result_type)
    import pandas as pd

    sm = ScoringModel.load(model_uri, tracking_uri)
    table = delta.to_arrow(df)
    report = ScoreReport()
    parts = []
    for part in score_stream(sm, table, table.schema, ordered=True, batch_rows=batch_rows,
                             result_type=result_type, memory_limit=memory_limit, report=report):
        parts.append(part)
        if on_batch is not None:
            on_batch(part.num_rows)
    if parts:
        out = pa.concat_tables(parts).to_pandas()
    else:
        out = pd.DataFrame(columns=[*table.column_names, PREDICTION])
    out.attrs["missing_keys"] = report.missing_keys
    return out
