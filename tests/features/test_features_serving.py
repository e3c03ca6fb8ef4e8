"""``modelyard models serve`` of a model with a feature spec: features the request lacks are looked
up in the online store (real Redis) by the request's keys; request values win; a missing key gets
the defaults or a 400 naming it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from modelyard.serving import ServeConfig, create_scoring_app
from modelyard.serving.config import parse_models


@pytest.fixture
def serving(logged, redis_uri):
    fc, _, _, model = logged
    fc.publish_table("cf", redis_uri)
    fc.publish_table("profile", redis_uri)
    app = create_scoring_app(ServeConfig(models=parse_models(["models:/churn/1"]), tracking_uri=fc.tracking_uri))
    service = app.state.service
    service.start()
    deadline = time.monotonic() + 60
    while not service.slots.ready:
        assert time.monotonic() < deadline, "the model did not load"
        time.sleep(0.02)
    runner = asyncio.Runner()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serving")

    def post(records):
        return runner.run(client.post("/invocations", json={"dataframe_records": records}))

    yield post, model
    runner.run(client.aclose())
    runner.close()
    service.stop()


def test_features_looked_up_by_key(serving) -> None:
    import pandas as pd

    post, model = serving
    answer = post([{"customer_id": 1}, {"customer_id": 2, "age": 50.0}])
    assert answer.status_code == 200, answer.text
    expected = model.predict(pd.DataFrame({"purchases": [7, 1], "age": [30.0, 50.0]}))
    assert answer.json()["predictions"] == pytest.approx(expected.tolist())


def test_missing_key_gets_defaults_or_400(serving) -> None:
    post, _ = serving
    answer = post([{"customer_id": 9}])  # purchases has a default (0), age too (35.0)
    assert answer.status_code == 200, answer.text
    no_key = post([{"other": 1}])
    assert no_key.status_code == 400 and "no column 'customer_id'" in no_key.json()["message"]


def test_key_without_online_row_and_default_is_named(logged, redis_uri) -> None:
    import dataclasses

    import pandas as pd

    from modelyard.exceptions import InvalidParameterValue
    from modelyard.features.serving import OnlineEnricher
    from modelyard.features.spec import FeatureSpec

    fc, info, _, _ = logged
    fc.publish_table("cf", redis_uri)
    fc.publish_table("profile", redis_uri)
    from modelyard.models.uri import download_model

    spec = FeatureSpec.load(download_model(info.model_uri))
    no_defaults = dataclasses.replace(spec, lookups=tuple(
        dataclasses.replace(lk, features=tuple(dataclasses.replace(f, default=None) for f in lk.features))
        for lk in spec.lookups
    ))
    enrich = OnlineEnricher(no_defaults, fc.tracking_uri)
    assert enrich(pd.DataFrame({"customer_id": [2]})).to_dict("records") == [{"purchases": 1, "age": 40.0}]
    with pytest.raises(InvalidParameterValue, match=r"No online features in 'cf' for key \{'customer_id': 9\}"):
        enrich(pd.DataFrame({"customer_id": [2, 9]}))
