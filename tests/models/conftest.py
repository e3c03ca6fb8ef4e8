"""Fixtures for the model tests: data, fitted models (once per session), a fresh tracking store.

Thread pools fight on 2 cores: OMP_WAIT_POLICY=passive is set before any library starts them
(and CI sets it for the whole run).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

import modelyard  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402

TRACKING_VARS = (
    "MODELYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
    "MODELYARD_EXPERIMENT_NAME",
    "MODELYARD_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MODELYARD_EXPERIMENT_ID",
)


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def logreg(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    return LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture
def tracking(tmp_path, monkeypatch) -> Iterator[str]:
    """A fresh embedded store (SQLite + local artifacts) in tmp_path, no fluent state from other tests."""
    for var in TRACKING_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    modelyard.set_tracking_uri(uri)
    yield uri
    while modelyard.active_run():
        modelyard.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()
