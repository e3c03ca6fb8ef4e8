"""Streaming inference on Spark Structured Streaming.

``score_stream(df, model_uri)`` adds ``prediction`` and ``model_version`` to a (streaming) DataFrame
with an iterator pandas UDF: Arrow batches of the input columns go to the Python workers, the
predictions come back, and each worker process loads the model once (kept for the next batches and queries of that process). A registry reference
(``models:/churn@champion``) is resolved on the driver when the query is defined, so every row of
the query names the one version that scored it; define the query again to take a new version.

``write_idempotent(df, uri, checkpoint)`` writes each micro-batch through ``foreachBatch`` keyed by
its batch id, so a restarted query that replays a batch (it was written, but the checkpoint did not
record it) never doubles rows:

- ``delta:///path``: the batch is appended in one Delta commit carrying the transaction
  ``(app_id, batch_id)`` (Delta's own idempotent-writer field, ``txn``); a batch id at or below the
  table's recorded version for ``app_id`` is skipped. Written with ``deltalake`` (no Delta jars).
- ``parquet:///path``: the batch is written to ``batch-<id>.parquet`` (temporary name, fsync,
  rename): a replay replaces the file instead of adding one.

``write_idempotent`` collects each micro-batch on the driver anyway (to write it with pyarrow), so
given ``score_stream``'s DataFrame itself (``result_type="double"``) it predicts there, on the
collected Arrow batch, instead of also running the UDF in Python workers: the same rows and
columns, without a second Python process per task and the model loaded in each (the hand-written
``foreachBatch`` that predicts after ``toPandas`` does the same). Any other DataFrame, or one
transformed after ``score_stream``, goes through the UDF.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

_LOADED: dict[str, Any] = {}  # per Python worker process: location -> model


@dataclass(frozen=True)
class _Scoring:
    """What ``score_stream`` added, so that ``write_idempotent`` can predict on the driver instead."""

    unscored: Any  # the DataFrame given to score_stream
    location: str
    tracking_uri: str | None
    inputs: list[str]
    version: str


def resolve_model(model_uri: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """``(version, location)``: a registry reference resolved to one version (on the driver)."""
    from modelyard.serving.slots import _registry_ref

    ref = _registry_ref(model_uri)
    if ref is None:
        from modelyard.models.load import load_pyfunc

        meta = load_pyfunc(model_uri, tracking_uri=tracking_uri).metadata
        return str(meta.model_id or meta.model_uuid[:12]), model_uri
    from modelyard.tracking.client import TrackingClient

    name, selector, path = ref
    version, location = TrackingClient(tracking_uri).resolve_model_version(name, selector)
    return version, location.rstrip("/") + ("/" + path if path else "")


def _model(location: str, tracking_uri: str | None) -> Any:
    model = _LOADED.get(location)
    if model is None:
        from modelyard.models.load import load_pyfunc

        model = _LOADED[location] = load_pyfunc(location, tracking_uri=tracking_uri)
    return model


def score_stream(df: Any, model_uri: str, *, result_type: str = "double", tracking_uri: str | None = None,
                 columns: list[str] | None = None) -> Any:
    """``df`` with two more columns: ``prediction`` (``result_type``, a Spark SQL type) and ``model_version``.

    The model runs in an iterator pandas UDF over the input columns: only those go to the Python
    worker and only the prediction comes back (the other columns stay in the JVM); the version is a
    literal column."""
    from collections.abc import Iterator

    import pandas as pd
    from pyspark.sql.functions import lit, pandas_udf, struct

    version, location = resolve_model(model_uri, tracking_uri)
    inputs = columns or list(df.columns)

    def predict(batches):
        model = _model(location, tracking_uri)
        for frame in batches:
            yield _series(model.predict(frame), len(frame)) if len(frame) else pd.Series([], dtype=object)

    predict.__annotations__ = {"batches": Iterator[pd.DataFrame], "return": Iterator[pd.Series]}
    udf = pandas_udf(predict, result_type)
    scored = df.withColumn("prediction", udf(struct(*[df[c] for c in inputs]))).withColumn("model_version", lit(version))
    if result_type == "double":
        try:
            scored._modelyard_scoring = _Scoring(df, location, tracking_uri, inputs, version)
        except AttributeError:  # a DataFrame class that takes no attributes: the UDF path
            pass
    return scored


def _series(pred: Any, n: int) -> Any:
    """One prediction per row as a pandas Series (a one-column output as its column, a wider one as a list per row)."""
    import numpy as np
    import pandas as pd

    if isinstance(pred, pd.DataFrame):
        pred = pred.iloc[:, 0] if pred.shape[1] == 1 else pd.Series(pred.to_numpy().tolist())
    elif not isinstance(pred, pd.Series):
        array = np.asarray(pred)
        pred = pd.Series(list(array) if array.ndim > 1 else array)
    if len(pred) != n:
        raise InvalidParameterValue(f"The model returned {len(pred)} predictions for {n} rows")
    return pred.reset_index(drop=True)


def write_idempotent(df: Any, uri: str, checkpoint: str, *, app_id: str | None = None,
                     trigger: dict | None = None) -> Any:
    """Start the query writing ``df`` to ``uri`` (``delta:///path`` or ``parquet:///path``); returns it."""
    from modelyard.streaming.uris import parse

    end = parse(uri)
    if end.scheme not in ("delta", "parquet"):
        raise InvalidParameterValue(f"write_idempotent writes delta:///path or parquet:///path, not {uri!r}")
    path = end.path
    app = app_id or "modelyard-" + hashlib.sha256(str(Path(checkpoint).resolve()).encode()).hexdigest()[:16]
    prepare = None
    scoring = getattr(df, "_modelyard_scoring", None)
    if isinstance(scoring, _Scoring):
        prepare = _predict_on_driver(scoring, _arrow_schema(df))
        df = scoring.unscored
    write = _delta_batch(path, app, prepare) if end.scheme == "delta" else _parquet_batch(path, prepare)
    writer = df.writeStream.foreachBatch(write).option("checkpointLocation", checkpoint)
    if trigger:
        writer = writer.trigger(**trigger)
    return writer.start()


def _arrow(batch_df: Any) -> Any:
    if hasattr(batch_df, "toArrow"):  # Spark 4
        return batch_df.toArrow()
    import pyarrow as pa

    return pa.Table.from_pandas(batch_df.toPandas(), preserve_index=False)


def _arrow_schema(df: Any) -> Any:
    """The Arrow schema ``toArrow`` gives ``df``'s batches."""
    from pyspark.sql.pandas.types import to_arrow_schema

    large = str(df.sparkSession.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"
    return to_arrow_schema(df.schema, error_on_duplicated_field_names_in_struct=True, prefers_large_types=large)


def _predict_on_driver(scoring: _Scoring, schema: Any):
    """A collected batch of the unscored DataFrame -> the batch score_stream's DataFrame would have given."""

    def prepare(table: Any) -> Any:
        import numpy as np
        import pyarrow as pa

        n = table.num_rows
        if n:
            model = _model(scoring.location, scoring.tracking_uri)
            values = _series(model.predict(table.select(scoring.inputs).to_pandas()), n).astype("float64").to_numpy()
        else:
            values = np.empty(0, dtype="float64")
        arrays = [*table.columns, pa.array(values, pa.float64()), pa.array([scoring.version] * n, pa.string())]
        return pa.Table.from_arrays(arrays, names=schema.names).cast(schema)

    return prepare


def _delta_batch(path: str, app_id: str, prepare=None):
    def write(batch_df: Any, batch_id: int) -> None:
        from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

        if DeltaTable.is_deltatable(path):
            done = DeltaTable(path).transaction_version(app_id)
            if done is not None and done >= batch_id:
                logger.info("Batch %d is already in %s: skipped", batch_id, path)
                return
        table = _arrow(batch_df)
        if table.num_rows == 0 and DeltaTable.is_deltatable(path):
            return
        if prepare is not None:
            table = prepare(table)
        write_deltalake(path, table, mode="append",
                        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, batch_id)]))

    return write


def _parquet_batch(folder: str, prepare=None):
    def write(batch_df: Any, batch_id: int) -> None:
        import pyarrow.parquet as pq

        table = _arrow(batch_df)
        if prepare is not None:
            table = prepare(table)
        os.makedirs(folder, exist_ok=True)
        final = Path(folder) / f"batch-{batch_id:012d}.parquet"
        tmp = Path(folder) / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    return write
