"""The PySpark path: training sets and score_batch on Spark DataFrames (join in Spark, mapInPandas
predict) agree with the pandas path; spark_udf predicts like the loaded model."""

from __future__ import annotations

import pandas as pd
import pytest
from features_helpers import ts

import modelyard
from modelyard.exceptions import InvalidParameterValue
from modelyard.features import FeatureLookup
from modelyard.features.scoring import score_batch
from modelyard.features.spark import spark_udf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def events() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [2, 1, 9, 1, 1], "event_ts": [ts(6), ts(12), ts(3), ts(0), ts(-1)],
                         "note": ["a", "b", "c", "d", "e"]})


def test_score_batch_on_spark_matches_pandas(logged, spark) -> None:
    fc = logged[0]
    expected = fc.score_batch("models:/churn/1", events()).sort_values("note").reset_index(drop=True)
    sdf = spark.createDataFrame(events())
    scored = fc.score_batch("models:/churn/1", sdf)
    assert scored.columns == ["customer_id", "event_ts", "note", "purchases", "age", "prediction"]
    got = scored.toPandas().sort_values("note").reset_index(drop=True)
    assert got["purchases"].tolist() == expected["purchases"].tolist() == [1, 7, 0, 3, 0]
    assert got["age"].tolist() == expected["age"].tolist()
    assert got["prediction"].tolist() == pytest.approx(expected["prediction"].tolist())


def test_spark_training_set_is_point_in_time(fc, customer_features, spark) -> None:
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    labels = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3], "event_ts": [ts(-1), ts(0), ts(9.5), ts(30), ts(1)],
                           "y": [0, 1, 2, 3, 4]})
    lookup = [FeatureLookup("cf", lookup_key="customer_id", timestamp_lookup_key="event_ts")]
    spark_df = fc.create_training_set(spark.createDataFrame(labels), lookup, label="y").load_df()
    got = spark_df.toPandas().sort_values("y")
    want = fc.create_training_set(labels, lookup, label="y").load_df().sort_values("y")
    assert got["purchases"].fillna(-1).tolist() == want["purchases"].fillna(-1).tolist() == [-1, 3, 3, 1, -1]


def test_spark_latest_row_lookup_and_odd_names(fc, customer_features, spark) -> None:
    """A lookup without a timestamp lookup key takes each key's latest row; input columns whose
    names need quoting pass through; the join's temporary views are gone afterwards."""
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    labels = pd.DataFrame({"customer_id": [2, 1, 3], "odd name`x": ["a", "b", "c"], "y": [0, 1, 2]})
    lookup = [FeatureLookup("cf", lookup_key="customer_id", default_values={"spend": -1.0})]
    spark_df = fc.create_training_set(spark.createDataFrame(labels), lookup, label="y").load_df()
    assert spark_df.columns[:2] == ["customer_id", "odd name`x"]
    got = spark_df.toPandas().sort_values("y").reset_index(drop=True)
    want = fc.create_training_set(labels, lookup, label="y").load_df().sort_values("y").reset_index(drop=True)
    assert got["spend"].tolist() == want["spend"].tolist() == [9.9, 75.5, -1.0]
    assert got["purchases"].fillna(-1).tolist() == want["purchases"].fillna(-1).tolist() == [1, 7, -1]
    assert got["odd name`x"].tolist() == ["a", "b", "c"]
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith("__modelyard_")]


def test_spark_input_checked_before_work(logged, spark) -> None:
    fc = logged[0]
    with pytest.raises(InvalidParameterValue, match="no column 'event_ts'"):
        fc.score_batch("models:/churn/1", spark.createDataFrame(pd.DataFrame({"customer_id": [1]})))


def test_spark_udf_predicts_like_the_model(fc, spark) -> None:
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 1.0]})
    model = LinearRegression().fit(frame, [1.0, 2.0, 5.0])
    with modelyard.start_run():
        info = modelyard.sklearn.log_model(model, name="m", input_example=frame)
    udf = spark_udf(spark, info.model_uri, result_type="double")
    got = spark.createDataFrame(frame).withColumn("p", udf("a", "b")).toPandas()
    assert got["p"].tolist() == pytest.approx(model.predict(frame).tolist())


def test_cli_score_batch_on_spark(logged, spark, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from modelyard.cli.main import cli

    source = tmp_path / "events.parquet"
    events().to_parquet(source)
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(cli, ["models", "score-batch", "-m", "models:/churn/1", "--input", str(source),
                                      "--output", str(out), "--spark", "local[2]"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 5
    scored = pd.read_parquet(out).sort_values("note")
    assert scored["purchases"].tolist() == [1, 7, 0, 3, 0]
    assert scored["model_version"].unique().tolist() == ["models:/churn/1"]


@pytest.fixture
def served(live_server, tracking_uri, monkeypatch):
    """The tracking URI of the session's live server (its artifacts served as mlflow-artifacts:/,
    so a model is downloaded to be loaded)."""
    monkeypatch.setenv("MODELYARD_TRACKING_URI", live_server)
    modelyard.set_tracking_uri(live_server)
    return live_server


def test_spark_scoring_reuses_one_copy_per_resolved_model(served, spark, tmp_path, monkeypatch) -> None:
    """Repeated score_batch and spark_udf calls of a remote model download it once (no new temporary
    folders), each Python worker loads it once, and an alias moved between calls scores with the
    version it names now."""
    import os
    import tempfile
    from collections import Counter

    import numpy as np

    from modelyard.flavors.pyfunc import PythonModel
    from modelyard.models import copies
    from modelyard.tracking.client import TrackingClient

    class Constant(PythonModel):  # defined here, so cloudpickle stores it by value for the workers
        def __init__(self, value: float) -> None:
            self.value = value

        def load_context(self, context) -> None:
            with open(context.model_config["loads"], "a") as out:
                out.write(f"{self.value} {os.getpid()}\n")

        def predict(self, context, model_input, params=None):
            return np.full(len(model_input), self.value)

    loads = tmp_path / "loads.txt"
    name = f"const_{os.getpid()}_{id(loads):x}"
    example = pd.DataFrame({"x": [1.0]})
    with modelyard.start_run():
        for value in (1.0, 2.0):
            modelyard.pyfunc.log_model(name="m", python_model=Constant(value), input_example=example,
                                       model_config={"loads": str(loads)}, registered_model_name=name)
    client = TrackingClient(served)
    client.set_registered_model_alias(name, "champion", 1)
    assert client.resolve_model_uri(f"models:/{name}@champion").startswith("mlflow-artifacts:")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    copies.clear()

    def ours() -> set[str]:
        return {p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("modelyard-")}

    def worker_loads(value: float) -> Counter:
        return Counter(pid for v, pid in (line.split() for line in loads.read_text().splitlines())
                       if float(v) == value and int(pid) != os.getpid())

    sdf = spark.createDataFrame(pd.DataFrame({"x": np.arange(40, dtype="float64")})).repartition(2)
    uri = f"models:/{name}@champion"
    first = [r.prediction for r in score_batch(uri, sdf).collect()]
    folders = ours()
    assert first == [1.0] * 40 and len(folders) == 1
    udf = spark_udf(spark, uri)
    for _ in range(2):
        assert [r.prediction for r in score_batch(uri, sdf).collect()] == first
        assert [r.p for r in sdf.withColumn("p", spark_udf(spark, uri)("x")).collect()] == first
    assert [r.p for r in sdf.withColumn("p", udf("x")).collect()] == first
    assert ours() == folders
    assert worker_loads(1.0) and max(worker_loads(1.0).values()) == 1  # once per worker process

    client.set_registered_model_alias(name, "champion", 2)
    assert [r.prediction for r in score_batch(uri, sdf).collect()] == [2.0] * 40
    assert [r.p for r in sdf.withColumn("p", spark_udf(spark, uri)("x")).collect()] == [2.0] * 40
    assert [r.p for r in sdf.withColumn("p", udf("x")).collect()] == first  # made when the alias named 1
    assert len(ours()) == 1 and max(worker_loads(2.0).values()) == 1
    assert len(list(copies._folder().iterdir())) == 2  # one copy per resolved model
    copies.clear()
    assert not ours()
