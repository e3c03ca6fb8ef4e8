"""A model logged with a feature spec, scored from a Redis stream: the features an event lacks come
from the real Redis online store (the scoring server's lookup), once per micro-batch; an event whose
key has no online row is dead-lettered with the reason, the rest of its batch is scored."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest
from model_fixtures import ENV_VARS
from stream_helpers import REDIS_URL as REDIS
from stream_helpers import run_until

import modelyard
from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner
from modelyard.tracking import fluent, stores


@pytest.fixture
def feature_model(tmp_path, monkeypatch, redis_client, name):
    """Model 'churn' v1: a linear model of the event's ``x`` and the looked-up ``purchases``, ``age``
    (table 'profile', keyed by ``customer_id``, no defaults), published to Redis under ``name``."""
    from sklearn.linear_model import LinearRegression

    from modelyard.features import FeatureClient, FeatureLookup

    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    modelyard.set_tracking_uri(uri)
    fc = FeatureClient(uri)
    fc.create_table("profile", primary_keys="customer_id",
                    df=pd.DataFrame({"customer_id": [1, 2, 3], "purchases": [7.0, 1.0, 4.0], "age": [30.0, 40.0, 50.0]}))
    labels = pd.DataFrame({"customer_id": [1, 2, 3, 1], "x": [0.5, 1.0, 2.0, 3.0], "y": [3.0, 1.0, 2.0, 5.0]})
    training = fc.create_training_set(labels, [FeatureLookup("profile", lookup_key="customer_id")], label="y",
                                      exclude_columns=["customer_id"])
    train = training.load_df()
    model = LinearRegression().fit(train.drop(columns="y"), train["y"])
    with modelyard.start_run():
        fc.log_model(model, "model", flavor=modelyard.sklearn, training_set=training, registered_model_name="churn")
    fc.publish_table("profile", f"{REDIS}?prefix={name}:ft:")
    yield uri, model, list(train.drop(columns="y").columns)
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


def test_missing_features_come_from_the_online_store_and_an_unknown_key_is_dead_lettered(
        redis_client, name, feature_model, monkeypatch):
    from modelyard.features.online import RedisOnlineStore

    uri, model, columns = feature_model
    reads: list[int] = []  # keys asked per fetch call (one call = one pipelined round trip)
    real = RedisOnlineStore.fetch

    def counted(self, requests):
        reads.append(sum(len(request[1]) for request in requests))
        return real(self, requests)

    monkeypatch.setattr(RedisOnlineStore, "fetch", counted)
    events, dead = f"{name}-events", f"{name}-dead"
    sent = [{"customer_id": 1, "x": 0.5}, {"customer_id": 2, "x": 1.0, "age": 60.0},  # the event's age wins
            {"customer_id": 99, "x": 2.0}, {"customer_id": 3, "x": 4.0}]
    ids = [redis_client.xadd(events, {"data": orjson.dumps(e)}).decode() for e in sent]
    config = StreamConfig("models:/churn/1", f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          dead_letter=f"{REDIS}?stream={dead}", tracking_uri=uri, batch_size=100)
    runner = StreamRunner(config)
    run_until(runner, lambda: redis_client.xlen(f"{name}-out") >= 3 and redis_client.xlen(dead) >= 1)

    out = {e["event_id"]: e for e in (_decoded(f) for _, f in redis_client.xrange(f"{name}-out"))}
    expected = model.predict(pd.DataFrame({"x": [0.5, 1.0, 4.0], "purchases": [7.0, 1.0, 4.0],
                                           "age": [30.0, 60.0, 50.0]})[columns])
    assert sorted(out) == sorted([ids[0], ids[1], ids[3]])
    assert [out[i]["prediction"] for i in (ids[0], ids[1], ids[3])] == pytest.approx(expected.tolist())
    letters = [_decoded(f) for _, f in redis_client.xrange(dead)]
    assert [(d["event_id"], d["reason"]) for d in letters] == [(ids[2], "missing_features")]
    assert letters[0]["error"] == "No online features in 'profile' for key {'customer_id': 99}"
    assert orjson.loads(orjson.loads(letters[0]["payload"])["data"]) == sent[2]
    assert redis_client.xpending(events, "g")["pending"] == 0
    assert len(reads) == runner.pipelines[0].batches  # one pipelined read per micro-batch
    assert sum(reads) == 4  # every event's key asked once (the one whose age it carries too: purchases is missing)


def _decoded(fields: dict) -> dict:
    return {k.decode(): orjson.loads(v) for k, v in fields.items()}


def test_an_online_store_that_keeps_failing_stops_the_consumer_without_acknowledging(
        redis_client, name, feature_model, monkeypatch):
    import asyncio

    from modelyard.exceptions import ModelyardError
    from modelyard.features.online import RedisOnlineStore

    def down(self, requests):
        raise ConnectionError("online store unreachable")

    monkeypatch.setattr(RedisOnlineStore, "fetch", down)
    uri, _, _ = feature_model
    events, dead = f"{name}-events", f"{name}-dead"
    redis_client.xadd(events, {"data": orjson.dumps({"customer_id": 1, "x": 0.5})})
    config = StreamConfig("models:/churn/1", f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          dead_letter=f"{REDIS}?stream={dead}", tracking_uri=uri, max_retries=2)
    with pytest.raises(ModelyardError, match="online feature store failed 2 times .*not acknowledged"):
        asyncio.run(StreamRunner(config).run())
    assert redis_client.xpending(events, "g")["pending"] == 1  # redelivered later, not dead-lettered
    assert redis_client.xlen(dead) == 0 and redis_client.xlen(f"{name}-out") == 0
