"""Feature-store fixtures: a FeatureClient on a fresh embedded store (SQLite + local artifact folder)."""

from __future__ import annotations

import pandas as pd
import pytest
from features_helpers import ts

import modelyard
from modelyard.features import FeatureClient
from modelyard.tracking import fluent, stores

ENV = ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
       "MODELYARD_EXPERIMENT_NAME", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID")


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
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


# -- catalog stores on every backend ------------------------------------------------------------
@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """A real modelyard server (uvicorn on 127.0.0.1, port 0) on a SQLite file, for the session."""
    from features_helpers import serve

    from modelyard.settings import Settings

    root = tmp_path_factory.mktemp("features-server")
    settings = Settings(backend_store_uri=f"sqlite:///{root / 'server.db'}", artifacts_destination=str(root / "artifacts"),
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
        tracking = RestTrackingStore(request.getfixturevalue("live_server"), Settings(http_request_max_retries=0))
    else:
        uri = {"sqlite": lambda: f"sqlite:///{tmp_path / 'c.db'}", "postgresql": lambda: request.getfixturevalue("postgres_uri"),
               "mysql": lambda: request.getfixturevalue("mysql_uri")}[kind]()
        tracking = SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path / "artifacts"))
    yield feature_store_for(tracking)
    tracking.close()
