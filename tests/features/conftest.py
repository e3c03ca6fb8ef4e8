"""Feature-store fixtures: a FeatureClient on a fresh embedded store (SQLite + local artifact folder)."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from features_helpers import service_unavailable, ts
from sklearn.linear_model import LinearRegression

import modelyard
from modelyard.features import FeatureClient, FeatureLookup
from modelyard.tracking import fluent, stores

ENV = ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
       "MODELYARD_EXPERIMENT_NAME", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID")


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    monkeypatch.setenv("MODELYARD_TRACKING_URI", uri)
    modelyard.set_tracking_uri(uri)
    yield uri
    while modelyard.active_run():
        modelyard.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


@pytest.fixture
def fc(tracking_uri) -> FeatureClient:
    return FeatureClient()


@pytest.fixture
def customer_features() -> pd.DataFrame:
    """A time series: customer 1 changes on day 0 and day 10, customer 2 on day 5."""
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": [ts(0), ts(10), ts(5)],
            "purchases": [3, 7, 1],
            "spend": [30.0, 75.5, 9.9],
        }
    )


@pytest.fixture
def logged(fc, customer_features):
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    fc.create_table("profile", primary_keys="customer_id", df=pd.DataFrame({"customer_id": [1, 2], "age": [30.0, 40.0]}))
    labels = pd.DataFrame({"customer_id": [1, 1, 2, 2], "event_ts": [ts(1), ts(11), ts(6), ts(7)],
                           "y": [3.0, 7.0, 1.0, 1.0]})
    training = fc.create_training_set(
        labels,
        [FeatureLookup("cf", feature_names=["purchases"], lookup_key="customer_id", timestamp_lookup_key="event_ts",
                       default_values={"purchases": 0}),
         FeatureLookup("profile", lookup_key="customer_id", default_values={"age": 35.0})],
        label="y", exclude_columns=["event_ts", "customer_id"],
    )
    train = training.load_df()
    model = LinearRegression().fit(train.drop(columns="y"), train["y"])
    with modelyard.start_run() as run:
        info = fc.log_model(model, "model", flavor=modelyard.sklearn, training_set=training,
                            registered_model_name="churn")
    return fc, info, run, model


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_uri():
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis at {REDIS} is not available: {exc}")
    prefix = f"modelyard-test-{uuid.uuid4().hex[:10]}:"
    yield f"{REDIS}?prefix={prefix}"
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


# -- catalog stores on every backend ------------------------------------------------------------
@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """A real modelyard server (uvicorn on 127.0.0.1, port 0) on a SQLite file, for the session."""
    from features_helpers import serve

    from modelyard.settings import Settings

    root = tmp_path_factory.mktemp("features-server")
    settings = Settings.defaults(backend_store_uri=f"sqlite:///{root / 'server.db'}", artifacts_destination=str(root / "artifacts"),
                        serve_artifacts=True)
    with serve(settings) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql), "rest"])
def catalog(request, tmp_path):
    from modelyard.settings import Settings
    from modelyard.store.features import feature_store_for
    from modelyard.store.tracking.rest import RestTrackingStore
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    kind = request.param
    if kind == "rest":
        tracking = RestTrackingStore(request.getfixturevalue("live_server"), Settings.defaults(http_request_max_retries=0))
    else:
        uri = {"sqlite": lambda: f"sqlite:///{tmp_path / 'c.db'}", "postgresql": lambda: request.getfixturevalue("postgres_uri"),
               "mysql": lambda: request.getfixturevalue("mysql_uri")}[kind]()
        tracking = SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path / "artifacts"))
    yield feature_store_for(tracking)
    tracking.close()


# -- Spark --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the session (startup takes ~10 s), pinned to loopback, no UI."""
    import os
    import sys

    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("modelyard-features-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
