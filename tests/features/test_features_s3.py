"""Feature tables at ``s3://`` locations, on a real S3 server on loopback (the session's server of
tests/artifacts/test_artifact_s3.py: SeaweedFS, or moto's server mode): create, merge, versions and
time travel, history, a point-in-time training set, score_batch and an online publish read the Delta
table through deltalake's object store, reaching the endpoint of ``MODELYARD_S3_ENDPOINT_URL``."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from features_helpers import ts
from sklearn.linear_model import LinearRegression

import modelyard
from modelyard.features import FeatureClient, FeatureLookup


def _s3_fixtures():
    name = "modelyard_tests_artifact_s3"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "artifacts" / "test_artifact_s3.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclass looks its module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


s3 = _s3_fixtures()
s3_server = s3.s3_server  # the session fixture (a real S3 server on 127.0.0.1, a free port)


@pytest.fixture
def s3_fc(s3_server, tracking_uri, monkeypatch):
    root = f"s3://{s3.BUCKET}/features-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", root)
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", s3_server.endpoint)
    s3.s3_module.clear_clients()
    yield FeatureClient(), root
    s3.s3_module.clear_clients()


def test_s3_table_versions_training_set_and_scoring(s3_fc, customer_features) -> None:
    fc, root = s3_fc
    created = fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    assert created.location.startswith(root + "/") and created.current_version == 0
    fc.write_table("cf", pd.DataFrame({"customer_id": [2], "ts": [ts(5)], "purchases": [4], "spend": [19.5]}), mode="merge")
    assert fc.get_table("cf").current_version == 1
    assert sorted(fc.read_table("cf", as_of_version=0)["purchases"]) == [1, 3, 7]
    assert sorted(fc.read_table("cf")["purchases"]) == [3, 4, 7]
    assert [h["version"] for h in fc.history("cf")][:2] == [1, 0]

    labels = pd.DataFrame({"customer_id": [1, 1, 2, 3], "event_ts": [ts(1), ts(11), ts(6), ts(6)], "y": [3.0, 7.0, 4.0, 0.0]})
    lookup = FeatureLookup("cf", feature_names=["purchases"], lookup_key="customer_id", timestamp_lookup_key="event_ts",
                           default_values={"purchases": 0})
    training = fc.create_training_set(labels, [lookup], label="y", exclude_columns=["event_ts", "customer_id"])
    train = training.load_df()
    assert train["purchases"].tolist() == [3, 7, 4, 0]
    model = LinearRegression().fit(train[["purchases"]], train["y"])
    with modelyard.start_run():
        info = fc.log_model(model, "model", flavor=modelyard.sklearn, training_set=training)
    scored = fc.score_batch(info.model_uri, labels.drop(columns="y"))
    assert scored["purchases"].tolist() == [3, 7, 4, 0]
    assert scored["prediction"].round(6).tolist() == pd.Series(model.predict(train[["purchases"]])).round(6).tolist()


def test_s3_publish_reads_the_table_from_s3(s3_fc, customer_features, tmp_path) -> None:
    fc, _ = s3_fc
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    online = f"sqlite:///{tmp_path / 'online.db'}"
    assert fc.publish_table("cf", online)["written"] == 2
    from modelyard.features.online import open_store

    store = open_store(online)
    try:
        rows = store.read("cf", ["[1]", "[2]", "[9]"], ["purchases"])
    finally:
        store.close()
    assert rows == [{"purchases": 7}, {"purchases": 1}, None]
