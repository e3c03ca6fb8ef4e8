"""The retraining history page of a registered model (in-process): each challenger with its
metrics beside the champion's, its gates, the decision and why; the approval endpoint it calls."""

from __future__ import annotations

import json
import re

from modelyard.entities import Metric, RunTag
from modelyard.retrain.approval import GATE_RESULTS_TAG, REASON_TAG, RUN_TAG, STATUS_TAG

API = "/ajax-api/2.0/modelyard/retrain"


def _retraining(services, name, version, status, reason, champion_version, challenger_auc, champion_auc, gates):
    """What a retraining leaves: a version tagged with its outcome and an evaluation run."""
    tracking, registry = services.tracking.store, services.registry.store
    run = tracking.create_run("0", "ada", 0, run_name=f"retrain-{name}")
    run_id = run.info.run_id
    metrics = [Metric("challenger_roc_auc", challenger_auc, 0, 0)]
    if champion_auc is not None:
        metrics.append(Metric("champion_roc_auc", champion_auc, 0, 0))
    tags = [RunTag(STATUS_TAG, status), RunTag(REASON_TAG, reason),
            RunTag("modelyard.retrain.champion_version", champion_version or ""),
            RunTag(GATE_RESULTS_TAG, json.dumps(gates))]
    tracking.log_batch(run_id, metrics=metrics, tags=tags)
    mv = registry.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, user_id="ada")
    assert str(mv.version) == version
    registry.set_model_version_tag(name, version, STATUS_TAG, status)
    registry.set_model_version_tag(name, version, RUN_TAG, run_id)
    return run_id


def _seed(services, name="churn"):
    services.registry.store.create_registered_model(name, user_id="ada")
    _retraining(services, name, "1", "promoted", "retrain: every gate passed (evaluation run r1)", None, 0.81, None,
                [["min.roc_auc", True, "0.81 >= 0.8"]])
    services.registry.store.set_registered_model_alias(name, "champion", 1, user_id="ada")
    _retraining(services, name, "2", "rejected", "retrain: gates failed: max_drop.roc_auc", "1", 0.74, 0.81,
                [["min.roc_auc", False, "0.74 >= 0.8"], ["max_drop.roc_auc", False, "drop 0.07 <= 0.0"]])
    return _retraining(services, name, "3", "awaiting_approval", "retrain: every gate passed; waiting for approval",
                       "1", 0.88, 0.81, [["min.roc_auc", True, "0.88 >= 0.8"]])


def _cards(text):
    return re.findall(r'<div class="card retraining" data-version="(\d+)" data-status="(\w+)">', text)


def test_history_shows_each_challenger_its_gates_and_the_decision(ui_api):
    _seed(ui_api.services)
    response = ui_api.get("/models/churn/retraining")
    assert response.status_code == 200
    text = response.text
    assert _cards(text) == [("3", "awaiting_approval"), ("2", "rejected"), ("1", "promoted")]
    assert text.count('class="button primary approve"') == 1 and 'data-version="3">Approve' in text
    assert 'data-gate="max_drop.roc_auc" data-passed="false"' in text and "drop 0.07 &lt;= 0.0" in text
    assert "retrain: gates failed: max_drop.roc_auc" in text
    # challenger beside champion: v2's 0.74 against v1's 0.81
    row = re.search(r'data-version="2".*?<tr data-metric="roc_auc">(.*?)</tr>', text, re.S).group(1)
    assert "0.74" in row and "0.81" in row
    assert 'href="/models/churn/retraining"' in ui_api.get("/models/churn").text  # linked from the model page


def test_approve_moves_the_champion_and_names_the_approver(ui_api):
    run_id = _seed(ui_api.services)
    answer = ui_api.post(f"{API}/approve", json={"name": "churn", "version": "3", "note": "checked"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["retraining"]["status"] == "promoted"
    registry = ui_api.services.registry.store
    assert registry.get_model_version_by_alias("churn", "champion").version in (3, "3")
    event = registry.get_promotion_history("churn", alias="champion", max_results=1)[0]
    assert "approved" in event.reason and "(checked)" in event.reason and run_id in event.reason
    assert _cards(ui_api.get("/models/churn/retraining").text)[0] == ("3", "promoted")
    again = ui_api.post(f"{API}/approve", json={"name": "churn", "version": "3"})
    assert again.status_code == 409 and again.json()["error_code"] == "INVALID_STATE"
    assert "not awaiting approval" in again.json()["message"]
    rejected = ui_api.post(f"{API}/approve", json={"name": "churn", "version": "2"})
    assert rejected.status_code == 409


def test_history_api_and_errors(ui_api):
    _seed(ui_api.services)
    history = ui_api.get(f"{API}/history", params={"name": "churn"}).json()["retrainings"]
    assert [r["version"] for r in history] == ["3", "2", "1"]
    assert history[1]["metrics"] == [{"metric": "roc_auc", "challenger": 0.74, "champion": 0.81}]
    assert ui_api.get(f"{API}/history", params={"name": "nope"}).status_code == 404
    assert ui_api.get("/models/nope/retraining").status_code == 404
    missing = ui_api.post(f"{API}/approve", json={"name": "churn", "version": "99"})
    assert missing.status_code == 404


def test_a_model_never_retrained_says_how_to_start(ui_api):
    ui_api.services.registry.store.create_registered_model("plain", user_id="ada")
    text = ui_api.get("/models/plain/retraining").text
    assert 'id="no-retraining"' in text and "modelyard retrain init plain" in text
