"""`modelyard experiments create|list|get|rename|delete|restore`."""

from __future__ import annotations

import json
import re

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_create_prints_the_new_id(invoke, client):
    result = invoke("experiments", "create", "--experiment-name", "churn")
    assert result.exit_code == 0, result.output
    experiment = client.get_experiment_by_name("churn")
    assert result.stdout == f"Created experiment 'churn' with id {experiment.experiment_id}\n"


def test_create_json_and_artifact_location(invoke, tmp_path):
    location = str(tmp_path / "elsewhere")
    result = invoke("experiments", "create", "-n", "churn", "--artifact-location", location, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "churn"
    assert data["artifact_location"] == location
    assert data["lifecycle_stage"] == "active"
    assert data["experiment_id"].isdigit()


def test_create_default_artifact_location_is_below_the_configured_root(invoke, tmp_path):
    data = json.loads(invoke("experiments", "create", "-n", "churn", "-o", "json").stdout)
    assert data["artifact_location"] == f"{tmp_path / 'artifacts'}/{data['experiment_id']}"


def test_create_duplicate_is_one_error_line(invoke, expect_error):
    assert invoke("experiments", "create", "-n", "churn").exit_code == 0
    expect_error(
        invoke("experiments", "create", "-n", "churn"),
        1,
        "RESOURCE_ALREADY_EXISTS: Experiment 'churn' already exists.",
    )


def test_create_needs_a_name(invoke, expect_error):
    expect_error(invoke("experiments", "create"), 2, "--experiment-name")


def test_get_by_id_and_by_name_as_json(invoke, client):
    experiment_id = client.create_experiment("churn", tags={"team": "growth"})
    by_id = json.loads(invoke("experiments", "get", "-x", experiment_id, "-o", "json").stdout)
    by_name = json.loads(invoke("experiments", "get", "--experiment-name", "churn", "-o", "json").stdout)
    assert by_id == by_name == client.get_experiment(experiment_id).to_dict()
    assert by_id["tags"] == [{"key": "team", "value": "growth"}]


def test_get_table_shows_fields_tags_and_readable_times(invoke, client):
    experiment_id = client.create_experiment("churn", tags={"team": "growth"})
    result = invoke("experiments", "get", "--experiment-id", experiment_id)
    assert result.exit_code == 0, result.output
    for text in ("Experiment ID", "churn", "active", "Artifact location", "team", "growth"):
        assert text in result.stdout
    assert len(TIME.findall(result.stdout)) == 2
    assert str(client.get_experiment(experiment_id).creation_time) not in result.stdout


def test_get_needs_exactly_one_of_id_and_name(invoke, expect_error):
    expect_error(invoke("experiments", "get"), 2, "Name the experiment once: NAME_OR_ID, --experiment-id or --experiment-name")
    expect_error(invoke("experiments", "get", "-x", "0", "-n", "Default"), 2, "Name the experiment once")


def test_get_unknown_experiment(invoke, expect_error):
    expect_error(invoke("experiments", "get", "-x", "42"), 1, "RESOURCE_DOES_NOT_EXIST", "42")
    expect_error(invoke("experiments", "get", "-n", "nope"), 1, "RESOURCE_DOES_NOT_EXIST", "'nope'")
    expect_error(invoke("experiments", "get", "-x", "abc"), 1, "INVALID_PARAMETER_VALUE")


def test_rename(invoke, client):
    experiment_id = client.create_experiment("churn")
    result = invoke("experiments", "rename", "-x", experiment_id, "--new-name", "churn-v2")
    assert result.exit_code == 0, result.output
    assert "churn-v2" in result.stdout
    assert client.get_experiment(experiment_id).name == "churn-v2"


def test_rename_to_a_taken_name(invoke, client, expect_error):
    experiment_id = client.create_experiment("churn")
    client.create_experiment("taken")
    expect_error(
        invoke("experiments", "rename", "-x", experiment_id, "--new-name", "taken"),
        1,
        "RESOURCE_ALREADY_EXISTS",
    )


def test_delete_and_restore(invoke, client):
    experiment_id = client.create_experiment("churn")
    result = invoke("experiments", "delete", "--experiment-id", experiment_id)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Experiment with id {experiment_id} has been deleted.\n"
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"

    active = json.loads(invoke("experiments", "list", "-o", "json").stdout)
    deleted = json.loads(invoke("experiments", "list", "--view", "deleted_only", "-o", "json").stdout)
    everything = json.loads(invoke("experiments", "list", "--view", "ALL", "-o", "json").stdout)
    assert [e["name"] for e in active] == ["Default"]
    assert [e["name"] for e in deleted] == ["churn"]
    assert sorted(e["name"] for e in everything) == ["Default", "churn"]

    result = invoke("experiments", "restore", "-x", experiment_id)
    assert result.exit_code == 0, result.output
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_delete_default_experiment_is_refused(invoke, client, expect_error):
    expect_error(
        invoke("experiments", "delete", "-x", "0"), 1, "INVALID_PARAMETER_VALUE", "default experiment"
    )


def test_delete_unknown_experiment(invoke, expect_error):
    expect_error(invoke("experiments", "delete", "-x", "99"), 1, "RESOURCE_DOES_NOT_EXIST")


def test_list_json_is_an_array_of_experiments(invoke, client):
    client.create_experiment("churn")
    result = invoke("experiments", "list", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    by_name = {e["name"]: e for e in data}
    assert set(by_name) == {"Default", "churn"}
    assert by_name["churn"] == client.get_experiment_by_name("churn").to_dict()


def test_list_table(invoke, client):
    client.create_experiment("churn")
    result = invoke("experiments", "list")
    assert result.exit_code == 0, result.output
    assert "churn" in result.stdout and "Default" in result.stdout
    assert "Created" in result.stdout and TIME.search(result.stdout)
    assert "Stage" not in result.stdout  # only listed with --view deleted_only/all


def test_list_filter_and_order_by(invoke, client):
    for name in ("churn-a", "churn-b", "fraud"):
        client.create_experiment(name)
    result = invoke(
        "experiments", "list", "--filter", "name LIKE 'churn%'", "--order-by", "name DESC", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in json.loads(result.stdout)] == ["churn-b", "churn-a"]


def test_list_bad_filter_is_one_error_line(invoke, expect_error):
    expect_error(invoke("experiments", "list", "--filter", "name ==="), 1, "INVALID_PARAMETER_VALUE")


def test_list_max_results_says_when_more_exist(invoke, client):
    for name in ("a", "b", "c"):
        client.create_experiment(name)
    result = invoke("experiments", "list", "--max-results", "2", "-o", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2
    assert "first 2 experiments" in result.stderr


def test_list_empty(invoke, client):
    result = invoke("experiments", "list", "--view", "deleted_only")
    assert result.exit_code == 0
    assert "No experiments found." in result.stdout
    assert json.loads(invoke("experiments", "list", "--view", "deleted_only", "-o", "json").stdout) == []


def test_search_is_a_hidden_alias_of_list(invoke, client):
    client.create_experiment("churn")
    result = invoke("experiments", "search", "-o", "json")
    assert result.exit_code == 0, result.output
    assert "churn" in {e["name"] for e in json.loads(result.stdout)}
    assert "search" not in invoke("experiments", "--help").stdout


def test_bad_view_is_a_usage_error(invoke, expect_error):
    expect_error(invoke("experiments", "list", "--view", "some"), 2, "--view")
