"""``modelyard models list|get|versions|register|alias|transition|history|delete`` on a SQLite store."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def run_id(client) -> str:
    return client.create_run("0", run_name="train").info.run_id


@pytest.fixture
def registered(client, run_id) -> str:
    """Model 'churn' (tag team=growth) with versions 1 and 2 from the run."""
    client.create_registered_model("churn", {"team": "growth"}, "predicts churn")
    for _ in range(2):
        client.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    return run_id


def test_register_creates_the_model_and_a_version(invoke, client, run_id):
    result = invoke("models", "register", f"runs:/{run_id}/model", "--name", "churn", "-t", "stage=dev", "-d", "first")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Registered 'churn' version 1 from runs:/{run_id}/model"
    as_json = invoke("models", "register", f"runs:/{run_id}/model", "--name", "churn", "-o", "json")
    assert json.loads(as_json.stdout)["version"] == "2"
    version = client.get_model_version("churn", 1)
    assert (version.tags, version.description, version.run_id) == ({"stage": "dev"}, "first", run_id)


def test_register_refuses_a_local_path(invoke, expect_error):
    result = invoke("models", "register", "/etc", "--name", "churn")
    expect_error(result, 1, "INVALID_PARAMETER_VALUE", "Invalid model version source")


def test_list_and_get(invoke, registered):
    listed = invoke("models", "list")
    assert listed.exit_code == 0, listed.output
    assert "churn" in listed.stdout and "v2 (None)" in listed.stdout and "predicts churn" in listed.stdout
    as_json = json.loads(invoke("models", "list", "-f", "tags.team = 'growth'", "-o", "json").stdout)
    assert [m["name"] for m in as_json] == ["churn"]
    assert json.loads(invoke("models", "list", "-f", "name = 'other'", "-o", "json").stdout) == []
    shown = invoke("models", "get", "churn")
    assert shown.exit_code == 0 and "Registered model churn" in shown.stdout and "Versions" in shown.stdout
    detail = json.loads(invoke("models", "get", "churn", "-o", "json").stdout)
    assert [v["version"] for v in detail["versions"]] == ["2", "1"]


def test_versions(invoke, registered):
    out = json.loads(invoke("models", "versions", "churn", "-f", "version_number > 1", "-o", "json").stdout)
    assert [v["version"] for v in out] == ["2"]
    table = invoke("models", "versions")
    assert table.exit_code == 0 and "churn" in table.stdout


def test_alias_transition_and_history(invoke, client, registered, monkeypatch):
    monkeypatch.setenv("MODELYARD_USER", "ada")
    assert invoke("models", "alias", "churn", "champion", "1").stdout.strip() == "'churn@champion' now points at version 1"
    invoke("models", "alias", "churn", "champion", "2")
    moved = invoke("models", "transition", "churn", "2", "production", "--archive-existing")
    assert moved.stdout.strip() == "'churn' version 2 is now in stage Production"
    assert client.get_model_version_by_alias("churn", "champion").version == "2"
    history = json.loads(invoke("models", "history", "churn", "-o", "json").stdout)
    assert [(e["kind"], e["action"], e["user_id"]) for e in history] == [
        ("stage", "transitioned", "ada"),
        ("alias", "moved", "ada"),
        ("alias", "created", "ada"),
    ]
    only_alias = json.loads(invoke("models", "history", "churn", "--alias", "champion", "-o", "json").stdout)
    assert [(e["from_version"] if "from_version" in e else None, e["to_version"]) for e in only_alias] == [
        ("1", "2"),
        (None, "1"),
    ]
    table = invoke("models", "history", "churn")
    assert table.exit_code == 0 and "champion" in table.stdout and "moved" in table.stdout
    removed = invoke("models", "alias", "churn", "champion", "--delete")
    assert removed.stdout.strip() == "Removed alias 'champion' of 'churn'"
    assert client.get_registered_model("churn").aliases == {}


def test_usage_errors(invoke, registered, expect_error):
    expect_error(invoke("models", "alias", "churn", "champion"), 2, "VERSION")
    expect_error(invoke("models", "alias", "churn", "latest", "1"), 1, "reserved")
    expect_error(invoke("models", "transition", "churn", "1", "Prod"), 2, "Prod")
    expect_error(invoke("models", "history", "churn", "--alias", "a", "--stage", "Staging"), 2, "not both")
    expect_error(invoke("models", "get", "nope"), 1, "RESOURCE_DOES_NOT_EXIST")


def test_delete_a_version_then_the_model(invoke, client, registered):
    assert invoke("models", "delete", "churn", "--version", "1").stdout.strip() == "Deleted version 1 of 'churn'"
    refused = invoke("models", "delete", "churn", input="n\n")
    assert refused.exit_code == 1 and client.get_registered_model("churn").name == "churn"
    assert invoke("models", "delete", "churn", "--yes").stdout.strip() == "Deleted registered model 'churn'"
    assert json.loads(invoke("models", "list", "-o", "json").stdout) == []
