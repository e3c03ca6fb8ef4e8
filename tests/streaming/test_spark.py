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


@pytest.mark.parametrize("kind", ["delta", "parquet"])
def test_predicting_on_the_driver_writes_what_the_udf_writes(spark, kind, tmp_path, model_dir, data, estimators):
    """write_idempotent given score_stream's DataFrame predicts on the collected batch (no UDF); a
    DataFrame transformed after score_stream goes through the UDF. Both store the same table."""
    from modelyard.streaming.spark import _Scoring

    incoming = tmp_path / "in"
    incoming.mkdir()
    frame = data.head(40).assign(id=range(40), note=[f"n{i}" for i in range(40)])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), incoming / "a.parquet")
    schema = spark.read.parquet(str(incoming)).schema

    def run(name, transform):
        stream = spark.readStream.schema(schema).parquet(str(incoming))
        scored = transform(score_stream(stream, str(model_dir), columns=COLUMNS))
        write_idempotent(scored, f"{kind}://{tmp_path / name}", str(tmp_path / f"ck-{name}"),
                         trigger={"availableNow": True}).awaitTermination()
        return scored

    fused = run("driver", lambda df: df)
    assert isinstance(getattr(fused, "_modelyard_scoring", None), _Scoring)
    plain = run("udf", lambda df: df.select("*"))
    assert getattr(plain, "_modelyard_scoring", None) is None

    def stored(name):
        if kind == "delta":
            from deltalake import DeltaTable

            return DeltaTable(str(tmp_path / name)).to_pyarrow_table()
        return pq.read_table(tmp_path / name)

    driver, udf = stored("driver"), stored("udf")
    assert driver.schema.names == [*frame.columns, "prediction", "model_version"]
    assert driver.schema == udf.schema
    assert driver.sort_by("id").equals(udf.sort_by("id"))
    expected = estimators[0].predict(frame[COLUMNS]).astype(float).tolist()
    assert driver.sort_by("id")["prediction"].to_pylist() == expected
