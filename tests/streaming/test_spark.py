"""Spark Structured Streaming (local[2]) over a folder source: score_stream adds prediction and
model_version; write_idempotent never doubles rows when a restarted query replays a batch."""

from __future__ import annotations

import os
import shutil
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stream_helpers import COLUMNS

from modelyard.streaming import score_stream, write_idempotent

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::ResourceWarning")]


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("modelyard-streaming-test")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def _drop_last_commit(checkpoint) -> None:
    """As if the query died after its sink wrote the last batch but before the checkpoint recorded it."""
    commits = sorted((checkpoint / "commits").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    last = [p for p in commits if p.name.isdigit()][-1]
    last.unlink()
    crc = checkpoint / "commits" / f".{last.name}.crc"
    if crc.exists():
        crc.unlink()


@pytest.mark.parametrize("kind", ["delta", "parquet"])
def test_a_restarted_query_never_doubles_rows(spark, kind, tmp_path, model_dir, data, estimators):
    incoming, out, checkpoint = tmp_path / "in", tmp_path / "out", tmp_path / "checkpoint"
    incoming.mkdir()
    frame = data.head(80).assign(id=range(80))
    pq.write_table(pa.Table.from_pandas(frame.iloc[:50], preserve_index=False), incoming / "a.parquet")
    schema = spark.read.parquet(str(incoming)).schema

    def run_query():
        stream = spark.readStream.schema(schema).parquet(str(incoming))
        scored = score_stream(stream, str(model_dir), columns=COLUMNS)
        write_idempotent(scored, f"{kind}://{out}", str(checkpoint), trigger={"availableNow": True}).awaitTermination()

    def stored() -> pd.DataFrame:
        if kind == "delta":
            from deltalake import DeltaTable

            return DeltaTable(str(out)).to_pandas()
        return pd.read_parquet(out)

    run_query()
    pq.write_table(pa.Table.from_pandas(frame.iloc[50:], preserve_index=False), incoming / "b.parquet")
    run_query()
    _drop_last_commit(checkpoint)
    run_query()  # replays the last batch

    result = stored().sort_values("id")
    assert result["id"].tolist() == list(range(80))  # every row once
    assert result["prediction"].tolist() == estimators[0].predict(frame[COLUMNS]).astype(float).tolist()
    assert result["model_version"].nunique() == 1
    if kind == "delta":
        from deltalake import DeltaTable

        assert len([h for h in DeltaTable(str(out)).history() if h["operation"] == "WRITE"]) == 2  # the replay added none
    else:
        assert sorted(p.name for p in out.iterdir()) == ["batch-000000000000.parquet", "batch-000000000001.parquet"]
    shutil.rmtree(checkpoint)


def test_a_transformed_scored_stream_is_written_as_the_udf_scored_it(spark, tmp_path, model_dir, data, estimators):
    """A scored DataFrame transformed further (here filtered on its prediction) is not the one
    score_stream returned: write_idempotent writes the pandas UDF's output as is, and its rows, types
    and version match what the driver-side scoring of the untransformed DataFrame writes."""
    incoming = tmp_path / "in"
    incoming.mkdir()
    frame = data.head(60).assign(id=range(60))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), incoming / "a.parquet")
    schema = spark.read.parquet(str(incoming)).schema
    stream = spark.readStream.schema(schema).parquet(str(incoming))
    scored = score_stream(stream, str(model_dir), columns=COLUMNS)
    ones = scored.filter(scored["prediction"] > 0.5)
    for df, out in ((scored, tmp_path / "fused"), (ones, tmp_path / "udf")):
        write_idempotent(df, f"parquet://{out}", str(tmp_path / f"ck-{out.name}"),
                         trigger={"availableNow": True}).awaitTermination()
    fused = pq.read_table(tmp_path / "fused")
    udf = pq.read_table(tmp_path / "udf")
    assert fused.column_names == udf.column_names == [*frame.columns, "prediction", "model_version"]
    assert fused.schema.field("prediction").type == udf.schema.field("prediction").type == pa.float64()
    expected = estimators[0].predict(frame[COLUMNS]).astype(float)
    fused_rows = fused.to_pandas().sort_values("id")
    assert fused_rows["prediction"].tolist() == expected.tolist()
    udf_rows = udf.to_pandas().sort_values("id")
    assert udf_rows["id"].tolist() == [i for i in range(60) if expected[i] > 0.5]
    assert set(udf_rows["prediction"]) == {1.0}
    assert set(fused_rows["model_version"]) == set(udf_rows["model_version"]) and fused_rows["model_version"].nunique() == 1
