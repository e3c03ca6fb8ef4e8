"""``modelyard models score-batch --spark MASTER``: the same job on Spark. The input is read by
Spark (a Delta table through its current version's Parquet files), the output is a Parquet folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue


def session(master: str):
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("modelyard-score-batch")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def read_input(spark, path: Path, fmt: str):
    if fmt == "delta":
        from deltalake import DeltaTable

        return spark.read.parquet(*DeltaTable(str(path)).file_uris())
    if fmt == "csv":
        return spark.read.option("header", True).option("inferSchema", True).csv(str(path))
    if fmt == "json":
        return spark.read.json(str(path))
    return spark.read.parquet(str(path))


def score_path_on_spark(fc: Any, model_uri: str, input_path: Path, fmt: str, output: Path, master: str,
                        result_type: str | None) -> dict:
    from pyspark.sql import functions as F

    from modelyard.features.batch import MODEL_VERSION, SCORING_TIMESTAMP, pin_model_uri
    from modelyard.features.spark import score_batch_spark

    if output.suffix.lower() not in ("", ".parquet"):
        raise InvalidParameterValue("With --spark the output is a Parquet folder (e.g. scored.parquet/)")
    pinned = pin_model_uri(fc.tracking_client, model_uri)
    spark = session(master)
    when = datetime.now(UTC)
    scored = score_batch_spark(pinned, read_input(spark, input_path, fmt), tracking_uri=fc.tracking_uri,
                               result_type=result_type)
    scored = scored.withColumn(MODEL_VERSION, F.lit(pinned)).withColumn(SCORING_TIMESTAMP, F.lit(when))
    scored.write.mode("overwrite").parquet(str(output))
    rows = spark.read.parquet(str(output)).count()
    return {"output": str(output), "format": "parquet", "rows": rows, "model_uri": pinned,
            "scoring_timestamp": when.isoformat(), "spark_master": master}
