"""Fixtures for the AutoML, evaluation and retraining tests: a fresh tracking store per test, and
small data sets (tiny budgets: a handful of trials on a few hundred rows)."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before numpy / lightgbm / xgboost load

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import modelyard  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402

ENV_VARS = (
    "MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
    "MODELYARD_EXPERIMENT_NAME", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID",
)


def _use(uri: str, tmp_path, monkeypatch) -> str:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    modelyard.set_tracking_uri(uri)
    return uri


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh SQLite tracking store for this test."""
    yield _use(f"sqlite:///{tmp_path / 'track.db'}", tmp_path, monkeypatch)
    _reset()


@pytest.fixture
def pg_tracking(fresh_postgres_uri, tmp_path, monkeypatch):
    """A fresh PostgreSQL database as the tracking store (artifacts in a local folder)."""
    yield _use(fresh_postgres_uri, tmp_path, monkeypatch)
    _reset()


def _reset() -> None:
    while modelyard.active_run():
        modelyard.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    """Binary, imbalanced (about 1 in 5 positive), numeric + categorical + high-cardinality
    columns, missing values, string labels, a timestamp."""
    rng = np.random.default_rng(0)
    n = 400
    tenure = rng.integers(1, 72, n).astype(float)
    charges = rng.normal(70, 20, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    city = rng.choice([f"city{i}" for i in range(40)], n)
    score = -2.0 + 0.04 * (30 - tenure) + 0.02 * (charges - 70) + (plan == "basic") * 0.8
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-score)), "yes", "no")
    tenure[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "tenure": tenure, "charges": charges, "plan": plan, "city": city,
        "customer_id": [f"c{i}" for i in range(n)],
        "signup": pd.date_range("2024-01-01", periods=n, freq="h"),
        "churned": churned,
    })


@pytest.fixture(scope="session")
def houses() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 300
    size = rng.uniform(40, 200, n)
    rooms = rng.integers(1, 6, n)
    area = rng.choice(["north", "south", "east"], n)
    price = 2.0 * size + 15 * rooms + (area == "south") * 40 + rng.normal(0, 10, n)
    return pd.DataFrame({"size": size, "rooms": rooms, "area": area, "price": price})
