"""Scoring a file or Delta table into Parquet or Delta, streamed: the input is scanned lazily, the
join streams out of DuckDB (which spills past its memory limit), and each scored batch is written
before the next is made. Every output row carries ``model_version`` and ``scoring_timestamp``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelyard.exceptions import InvalidParameterValue
from modelyard.features.scoring import ScoreReport, ScoringModel, score_stream

logger = logging.getLogger(__name__)

MODEL_VERSION = "model_version"
SCORING_TIMESTAMP = "scoring_timestamp"


def pin_model_uri(client: Any, model_uri: str) -> str:
    """``models:/name@alias`` (or a stage, or ``latest``) as ``models:/name/<version>``: one version for
    the whole job, named in every row. Other URIs are returned as they are."""
    from modelyard.registry.uris import parse_registry_uri

    if not model_uri.startswith("models:") or model_uri.startswith(("models:/m-", "models:m-")):
        return model_uri
    name, selector, path = parse_registry_uri(model_uri)
    version, _ = client.resolve_model_version(name, selector)
    return f"models:/{name}/{version}" + (f"/{path}" if path else "")


def _stamped(batches: Iterator[pa.Table], version: str, when: datetime) -> Iterator[pa.RecordBatch]:
    for table in batches:
        n = table.num_rows
        table = table.append_column(MODEL_VERSION, pa.array([version] * n, pa.string()))
        table = table.append_column(SCORING_TIMESTAMP, pa.array([when] * n, pa.timestamp("us", "UTC")))
        yield from table.to_batches()


def score_to_path(
    fc: Any,
    model_uri: str,
    source: Any,
    output: Path,
    *,
    batch_rows: int = 100_000,
    memory_limit: str | None = "512MB",
    result_type: str | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> dict:
    """Score ``source`` (a DuckDB table function over the input files, e.g. ``read_parquet('...')``)
    into ``output`` (a ``.parquet`` file, else a Delta folder)."""
    pinned = pin_model_uri(fc.tracking_client, model_uri)
    sm = ScoringModel.load(pinned, fc.tracking_uri)
    report = ScoreReport()
    when = datetime.now(UTC)
    scored = score_stream(sm, source, ordered=False, batch_rows=batch_rows,
                          result_type=result_type, memory_limit=memory_limit, report=report)
    batches = _stamped(scored, pinned, when)

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if on_rows is not None:
                on_rows(batch.num_rows)
            yield batch

    first = next(counted_iter := counted(), None)
    if first is None:
        raise InvalidParameterValue("The input has no rows")
    schema = first.schema

    def rest() -> Iterator[pa.RecordBatch]:
        yield first
        yield from counted_iter

    if output.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        output.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(str(output), schema) as writer:
            for batch in rest():
                writer.write_batch(batch)
        kind = "parquet"
    else:
        from deltalake import write_deltalake

        write_deltalake(str(output), pa.RecordBatchReader.from_batches(schema, rest()), mode="append")
        kind = "delta"
    return {
        "output": str(output),
        "format": kind,
        "rows": report.rows,
        "model_uri": pinned,
        "scoring_timestamp": when.isoformat(),
        "missing_keys": report.missing_keys,
    }
