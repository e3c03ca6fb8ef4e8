"""A fresh SQLite tracking store per test."""

import pytest

import modelyard
from modelyard.tracking import fluent, stores


@pytest.fixture(autouse=True)
def tracking(tmp_path, monkeypatch):
    for var in ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
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
def shop(tracking, tmp_path):
    """A feature table of customers and a labels table (``(labels_uri, write_labels(drift, seed))``)."""
    from retrainhelpers import make_shop

    return make_shop(tracking, tmp_path)
