"""Fixtures for the autologging tests.

OMP_WAIT_POLICY is set before any numerical library is imported: with 2 cores, OpenMP
thread pools that spin-wait (xgboost, lightgbm, BLAS) fight each other otherwise.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import modelyard  # noqa: E402
from modelyard.autologging import config, hooks, post_training, safety  # noqa: E402
from modelyard.autologging import sklearn as sklearn_integration  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402

ENV_VARS = (
    "MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
    "MODELYARD_EXPERIMENT_NAME", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID",
)


@pytest.fixture(autouse=True)
def tracking(tmp_path, monkeypatch):
    """A fresh SQLite tracking store per test, no fluent state or autologging left behind."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    modelyard.set_tracking_uri(uri)
    previous = safety.set_strict(True)  # an autologging bug fails the test instead of warning
    yield uri
    safety.set_strict(previous)
    for integration in config.INTEGRATIONS:
        safety.revert(integration)
        hooks.discard_hooks(integration)
    sklearn_integration._unhook()
    config.clear()
    post_training.clear()
    with modelyard.autologging._lock:
        modelyard.autologging._requested.clear()
    while modelyard.active_run():
        modelyard.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


@pytest.fixture
def lenient():
    """Autologging failures are warnings, as users get them (not the suite's strict errors)."""
    previous = safety.set_strict(False)
    yield
    safety.set_strict(previous)


@pytest.fixture(scope="session")
def classification():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=240) > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 4))
    y = X @ np.array([1.5, -2.0, 0.0, 0.5]) + rng.normal(scale=0.1, size=240)
    return X, y


def _all_runs(**kwargs):
    return modelyard.search_runs(output_format="list", **kwargs)


def _only_run():
    found = _all_runs()
    assert len(found) == 1, [r.data.tags.get("estimator_name") for r in found]
    return found[0]


@pytest.fixture
def runs():
    """``runs()``: every run of the default experiment, newest first (search_runs kwargs pass through)."""
    return _all_runs


@pytest.fixture
def only_run():
    """``only_run()``: the one run there is (fails when there are more or none)."""
    return _only_run
