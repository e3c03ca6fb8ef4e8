"""Following a registry alias or stage: switch on a poll or a webhook, rollback, health on load failures."""

from __future__ import annotations

import time

import orjson
import pytest
from serving_helpers import split_body, wait_until

from modelyard.registry.delivery import sign


def answer(app, rows, path="/invocations"):
    r = app.post(path, json=split_body(rows))
    assert r.status_code == 200, r.text
    return r.headers["x-modelyard-model-version"], r.json()["predictions"]


def test_the_alias_is_followed_by_polling_and_moving_it_back_rolls_back(serve, registry, estimators, data):
    uri, client = registry
    rows = data.head(8)
    app = serve("models:/churn@champion", tracking_uri=uri, poll_interval=0.1)
    assert answer(app, rows) == ("churn/1", estimators[0].predict(rows).tolist())

    client.set_registered_model_alias("churn", "champion", 2)
    wait_until(lambda: app.get("/version").json()["models"]["churn"]["version"] == "2", what="the switch to 2")
    assert answer(app, rows) == ("churn/2", estimators[1].predict(rows).tolist())
    version = app.get("/version").json()["models"]["churn"]
    assert version["previous_versions"] == ["1"] and version["uri"] == "models:/churn@champion"

    client.set_registered_model_alias("churn", "champion", 1)  # rollback
    wait_until(lambda: app.get("/version").json()["models"]["churn"]["version"] == "1", what="the rollback")
    assert answer(app, rows) == ("churn/1", estimators[0].predict(rows).tolist())
    metrics = app.get("/metrics").text
    assert 'modelyard_serving_model_switches_total{model="churn"} 2.0' in metrics
    assert 'modelyard_serving_model_version_info{model="churn",version="1"} 1.0' in metrics
    assert 'version="2"' not in metrics.split("modelyard_serving_model_version_info")[-1].split("# HELP")[0]


def test_a_webhook_triggers_the_check_at_once(serve, registry, data):
    uri, client = registry
    app = serve("models:/churn@champion", tracking_uri=uri, poll_interval=0)  # no polling at all
    client.set_registered_model_alias("churn", "champion", 2)
    time.sleep(0.3)
    assert answer(app, data.head(1))[0] == "churn/1"  # nothing noticed it yet
    payload = {"entity": "model_version_alias", "action": "created", "data": {"name": "churn", "alias": "champion"}}
    r = app.post("/webhooks/registry", json=payload)
    assert r.status_code == 200 and r.json()["following"] == ["churn"]
    wait_until(lambda: answer(app, data.head(1))[0] == "churn/2", what="the switch after the webhook")


def test_a_signed_webhook_is_checked_when_a_secret_is_set(serve, registry):
    uri, _ = registry
    app = serve("models:/churn@champion", tracking_uri=uri, poll_interval=0, webhook_secret="s3cret")
    body = orjson.dumps({"entity": "model_version_alias", "action": "created", "data": {"name": "churn"}})
    unsigned = app.post("/webhooks/registry", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["error_code"] == "UNAUTHENTICATED"
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": "d-1",
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": sign("wrong", "d-1", stamp, body.decode()),
    }
    assert app.post("/webhooks/registry", content=body, headers=headers).status_code == 401
    headers["X-MLflow-Signature"] = sign("s3cret", "d-1", stamp, body.decode())
    assert app.post("/webhooks/registry", content=body, headers=headers).status_code == 200


def test_a_stage_is_followed(serve, registry, data):
    uri, client = registry
    client.transition_model_version_stage("churn", 1, "Production")
    app = serve("models:/churn/Production", tracking_uri=uri, poll_interval=0.1)
    assert answer(app, data.head(1))[0] == "churn/1"
    client.transition_model_version_stage("churn", 2, "Production", archive_existing_versions=True)
    wait_until(lambda: answer(app, data.head(1))[0] == "churn/2", what="the switch to the new Production version")


def test_a_fixed_version_is_not_followed(serve, registry):
    uri, _ = registry
    app = serve("models:/churn/2", tracking_uri=uri, poll_interval=0.1)
    health = app.get("/health").json()
    assert health["models"]["churn"] == {
        "state": "ready", "uri": "models:/churn/2", "version": "2", "follows_registry": False, "error": None,
    }


def test_a_model_that_fails_to_load_makes_health_and_ping_fail_with_the_reason(serve, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "MLmodel").write_text("flavors: {python_function: {loader_module: nowhere.at_all}}\n")
    app = serve(str(tmp_path / "broken"))
    assert app.failed
    health = app.get("/health")
    assert health.status_code == 503
    assert health.json()["models"]["model"]["state"] == "failed"
    assert "failed to load" in health.json()["message"]
    ping = app.get("/ping")
    assert ping.status_code == 503 and "failed to load" in ping.json()["message"]
    r = app.post("/invocations", json={"inputs": [1]})
    assert r.status_code == 503 and r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert app.get("/v2/health/ready").status_code == 503
    assert app.get("/v2/health/live").status_code == 200


def test_a_new_version_that_fails_to_load_keeps_the_old_one_answering(serve, registry, tmp_path, data):
    uri, client = registry
    app = serve("models:/churn@champion", tracking_uri=uri, poll_interval=0.1)
    mv = client.get_model_version("churn", 2)
    from modelyard.artifacts.local import local_path_from_uri

    (local_path_from_uri(client.get_model_version_download_uri("churn", mv.version)) / "MLmodel").write_text("not: [a model\n")
    client.set_registered_model_alias("churn", "champion", 2)
    wait_until(lambda: app.get("/health").json()["models"]["churn"]["error"] is not None, what="the failed load")
    health = app.get("/health")
    assert health.status_code == 200  # still serving version 1
    assert health.json()["models"]["churn"]["version"] == "1"
    assert "version 2 failed to load" in health.json()["models"]["churn"]["error"]
    assert answer(app, data.head(1))[0] == "churn/1"
    assert 'modelyard_serving_model_load_failures_total{model="churn"} 1.0' in app.get("/metrics").text
    # the broken version is not loaded again at every check (nor logged again): only a new version is tried
    slot = app.service.slots.get("churn")
    assert app.service.slots.refresh(slot) is False and app.service.slots.refresh(slot) is False
    assert 'modelyard_serving_model_load_failures_total{model="churn"} 1.0' in app.get("/metrics").text


@pytest.mark.parametrize("uri", ["models:/nope@champion", "models:/churn@nothing"])
def test_an_unknown_model_or_alias_fails_health_with_the_reason(serve, registry, uri):
    tracking, _ = registry
    app = serve(uri, tracking_uri=tracking, poll_interval=0.1)
    health = app.get("/health")
    assert health.status_code == 503
    assert "cannot resolve" in health.json()["message"]
