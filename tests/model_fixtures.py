"""Model fixtures shared by the serving and streaming tests (each conftest imports them and defines
``columns``, its feature names): data, two estimators that tell themselves apart (version 1 predicts
classes 0/1, version 2 the same rows as 10/11), a saved model folder, and a SQLite registry with both
versions registered and the alias ``champion`` on version 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.tracking import fluent, stores
from modelyard.tracking.client import TrackingClient

ENV_VARS = (
    "MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MODELYARD_DEFAULT_ARTIFACT_ROOT", "MODELYARD_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_NAME", "MODELYARD_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_RUN_ID", "MLFLOW_RUN_ID",
)


@pytest.fixture(scope="session")
def data(columns) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.normal(size=(300, len(columns))), columns=columns)


@pytest.fixture(scope="session")
def estimators(data):
    """(version 1, version 2): the same decision, classes 0/1 and 10/11."""
    from sklearn.linear_model import LogisticRegression

    y = (data["f0"] + data["f1"] > 0).astype(int)
    return LogisticRegression().fit(data, y), LogisticRegression().fit(data, y + 10)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, estimators, data) -> Path:
    """A saved sklearn model (version 1's estimator) with a signature and an input example."""
    import modelyard.sklearn as msk

    path = tmp_path_factory.mktemp("models") / "logreg"
    msk.save_model(estimators[0], path, input_example=data.head(3))
    return path


@pytest.fixture
def registry(tmp_path, monkeypatch, estimators, data) -> Iterator[tuple[str, TrackingClient]]:
    """A SQLite registry in tmp_path: model 'churn' versions 1 and 2, alias 'champion' on 1."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    modelyard.set_tracking_uri(uri)
    import modelyard.sklearn as msk

    for estimator in estimators:
        with modelyard.start_run():
            info = msk.log_model(estimator, name="model", input_example=data.head(3))
        modelyard.register_model(info.model_uri, "churn")
    client = TrackingClient(uri)
    client.set_registered_model_alias("churn", "champion", 1)
    yield uri, client
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()
