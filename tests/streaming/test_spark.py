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


def test_the_workers_score_as_the_driver_does(spark, tmp_path, model_dir, data, estimators):
    """score_stream's own DataFrame is scored on the driver by write_idempotent; a transformed one
    (filtered on its prediction) is written as the Python workers scored it: through mapInArrow when
    the other columns are numbers, through the pandas UDF when a string column rides along. The rows,
    column order, types and version are the same."""
    incoming = tmp_path / "in"
    incoming.mkdir()
    frame = data.head(60).assign(id=range(60), tag=[f"t{i}" for i in range(60)])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), incoming / "a.parquet")
    schema = spark.read.parquet(str(incoming)).schema
    expected = estimators[0].predict(frame[COLUMNS]).astype(float)

    def written(name: str, with_tag: bool, transformed: bool) -> pd.DataFrame:
        stream = spark.readStream.schema(schema).parquet(str(incoming))
        if not with_tag:
            stream = stream.drop("tag")
        scored = score_stream(stream, str(model_dir), columns=COLUMNS)
        plan = scored._jdf.queryExecution().analyzed().toString()
        assert ("MapInArrow" in plan) is not with_tag  # a string column beside the inputs: the pandas UDF
        df = scored.filter(scored["prediction"] > 0.5) if transformed else scored
        write_idempotent(df, f"parquet://{tmp_path / name}", str(tmp_path / f"ck-{name}"),
                         trigger={"availableNow": True}).awaitTermination()
        table = pq.read_table(tmp_path / name)
        assert table.schema.field("prediction").type == pa.float64()
        assert table.column_names == [*stream.columns, "prediction", "model_version"]
        return table.to_pandas().sort_values("id")

    driver = written("driver", with_tag=True, transformed=False)
    assert driver["prediction"].tolist() == expected.tolist()
    assert driver["tag"].tolist() == frame["tag"].tolist()
    ones = [i for i in range(60) if expected[i] > 0.5]
    for name, with_tag in (("arrow", False), ("udf", True)):
        workers = written(name, with_tag, transformed=True)
        assert workers["id"].tolist() == ones
        assert set(workers["prediction"]) == {1.0}
        assert set(workers["model_version"]) == set(driver["model_version"]) and driver["model_version"].nunique() == 1
