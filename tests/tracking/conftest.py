import pytest

import modelyard
from modelyard.tracking import fluent, stores


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh embedded store in tmp_path, with no fluent state left from other tests."""
    for var in ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
                "MODELYARD_EXPERIMENT_NAME", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    modelyard.set_tracking_uri(uri)
    yield uri
    while modelyard.active_run():
        modelyard.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()
