"""`modelyard runs list|describe|delete|restore`."""

from __future__ import annotations

import json
import re

import pytest

from modelyard.cli.runs import parse_columns

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _names(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [run["info"]["run_name"] for run in json.loads(result.stdout)]


def test_list_filter_and_order_by(invoke, churn):
    result = invoke(
        "runs",
        "list",
        "--experiment",
        "churn",
        "--filter",
        "metrics.loss < 0.2",
        "--order-by",
        "metrics.loss ASC",
        "--output",
        "json",
    )
    assert _names(result) == ["r1", "r2"]
    runs = json.loads(result.stdout)
    assert [run["info"]["run_id"] for run in runs] == [churn.run_ids["r1"], churn.run_ids["r2"]]
    losses = [{m["key"]: m["value"] for m in run["data"]["metrics"]}["loss"] for run in runs]
    assert losses == [0.1, 0.15]


def test_list_order_by_is_repeatable(invoke, churn):
    result = invoke(
        "runs",
        "list",
        "-e",
        "churn",
        "--order-by",
        "tags.team ASC",
        "--order-by",
        "metrics.loss DESC",
        "-o",
        "json",
    )
    assert _names(result) == ["r0", "r2", "r3", "r1"]  # core: 0.3, 0.15; growth: 0.25, 0.1


def test_list_json_holds_whole_runs(invoke, churn, client):
    data = json.loads(invoke("runs", "list", "-e", "churn", "-o", "json").stdout)
    assert len(data) == len(churn.losses)
    by_id = {run["info"]["run_id"]: run for run in data}
    for run_id in churn.run_ids.values():
        assert by_id[run_id] == client.get_run(run_id).to_dict()


@pytest.mark.parametrize("option", ["--experiment", "--experiment-id"])
def test_list_by_experiment_id(invoke, churn, option):
    assert sorted(_names(invoke("runs", "list", option, churn.experiment_id, "-o", "json"))) == sorted(
        churn.losses
    )


def test_list_several_experiments(invoke, churn, client):
    other = client.create_experiment("fraud")
    client.create_run(other, run_name="f0")
    result = invoke(
        "runs", "list", "-e", "churn", "-e", "fraud", "--order-by", "attributes.run_name", "-o", "json"
    )
    assert _names(result) == ["f0", "r0", "r1", "r2", "r3"]
    table = invoke("runs", "list", "-e", "churn", "-x", other)
    assert "Experiment" in table.stdout


def test_list_table_with_columns(invoke, churn):
    result = invoke(
        "runs",
        "list",
        "-e",
        "churn",
        "--order-by",
        "metrics.loss",
        "--columns",
        "metrics.loss,params.C",
        "-c",
        "tags.team",
        "-c",
        "attributes.user_id",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0]
    for text in (
        "Run ID",
        "Name",
        "Status",
        "Started",
        "Duration",
        "metrics.loss",
        "params.C",
        "tags.team",
        "attributes.user_id",
    ):
        assert text in header
    rows = [line for line in lines if any(rid in line for rid in churn.run_ids.values())]
    assert [row.split()[0] for row in rows] == [churn.run_ids[n] for n in ("r1", "r2", "r3", "r0")]
    first = rows[0]
    assert "r1" in first and "FINISHED" in first and "0.1" in first and "growth" in first
    assert "1m 05s" in first  # duration of r1, human-readable
    assert TIME.search(first)
    assert "1700000000001" not in result.stdout  # no raw epoch milliseconds


def test_list_columns_wildcard(invoke, churn):
    result = invoke("runs", "list", "-e", "churn", "-c", "metrics.*")
    assert result.exit_code == 0, result.output
    assert "metrics.acc" in result.stdout and "metrics.loss" in result.stdout


def test_list_missing_value_shows_a_dash(invoke, churn, client):
    client.log_param(churn.run_ids["r0"], "only_here", "x")
    result = invoke(
        "runs", "list", "-e", "churn", "-c", "params.only_here", "--order-by", "attributes.run_name"
    )
    rows = [line for line in result.stdout.splitlines() if churn.run_ids["r1"] in line]
    assert rows[0].rstrip().endswith("-")


@pytest.mark.parametrize("bad", ["loss", "metricz.loss", "attributes.nope", "metrics."])
def test_list_bad_column_is_a_usage_error(invoke, churn, expect_error, bad):
    expect_error(invoke("runs", "list", "-e", "churn", "-c", bad), 2, "--columns")


def test_parse_columns():
    assert parse_columns(["metric.loss, params.C", "tags.`my tag`", "status", "metrics.loss"]) == [
        ("metrics", "loss"),
        ("params", "C"),
        ("tags", "my tag"),
        ("attributes", "status"),
    ]


def test_list_needs_an_experiment(invoke, expect_error):
    expect_error(invoke("runs", "list"), 2, "--experiment")


def test_list_unknown_experiment(invoke, churn, expect_error):
    expect_error(invoke("runs", "list", "-e", "nope"), 1, "RESOURCE_DOES_NOT_EXIST", "'nope'")
    expect_error(invoke("runs", "list", "-e", "77"), 1, "RESOURCE_DOES_NOT_EXIST", "'77'")


def test_list_bad_filter(invoke, churn, expect_error):
    expect_error(
        invoke("runs", "list", "-e", "churn", "--filter", "metrics.loss <"), 1, "INVALID_PARAMETER_VALUE"
    )


def test_list_max_results(invoke, churn):
    result = invoke(
        "runs", "list", "-e", "churn", "--max-results", "3", "--order-by", "metrics.loss", "-o", "json"
    )
    assert _names(result) == ["r1", "r2", "r3"]
    assert "first 3 runs" in result.stderr


def test_list_empty(invoke, churn):
    result = invoke("runs", "list", "-e", "churn", "--filter", "metrics.loss > 5")
    assert result.exit_code == 0
    assert "No runs found." in result.stdout
    assert (
        json.loads(invoke("runs", "list", "-e", "churn", "--filter", "metrics.loss > 5", "-o", "json").stdout)
        == []
    )


def test_list_views(invoke, churn, client):
    client.delete_run(churn.run_ids["r0"])
    assert "r0" not in _names(invoke("runs", "list", "-e", "churn", "-o", "json"))
    assert _names(invoke("runs", "list", "-e", "churn", "--view", "deleted_only", "-o", "json")) == ["r0"]
    assert len(_names(invoke("runs", "list", "-e", "churn", "--view", "all", "-o", "json"))) == 4
    assert "Stage" in invoke("runs", "list", "-e", "churn", "--view", "all").stdout


def test_describe_json(invoke, churn, client):
    run_id = churn.run_ids["r1"]
    result = invoke("runs", "describe", "--run-id", run_id, "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == client.get_run(run_id).to_dict()
    assert data["info"]["status"] == "FINISHED"
    assert data["data"]["params"] == [{"key": "C", "value": "1"}]
    assert {m["key"]: m["value"] for m in data["data"]["metrics"]} == {"loss": 0.1, "acc": 0.9}
    assert {"key": "team", "value": "growth"} in data["data"]["tags"]
    dataset = data["inputs"]["dataset_inputs"][0]
    assert dataset["dataset"]["name"] == "customers"
    assert dataset["tags"] == [{"key": "mlflow.data.context", "value": "train"}]


def test_describe_table_shows_everything(invoke, churn):
    run_id = churn.run_ids["r1"]
    result = invoke("runs", "describe", "-r", run_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        run_id,
        "r1",
        "FINISHED",
        "1m 05s",
        "Artifact URI",
        "Params",
        "Metrics (latest)",
        "loss",
        "0.1",
        "acc",
        "0.9",
        "Tags",
        "mlflow.runName",
        "growth",
        "Dataset inputs",
        "customers",
        "d1g3st",
        "/data/customers.csv",
        "mlflow.data.context=train",
    ):
        assert text in out, text
    assert len(TIME.findall(out)) >= 3  # started, ended, metric logged at


def test_describe_prints_values_literally(invoke, churn, client):
    client.set_tag(churn.run_ids["r0"], "note", "[bold red]not markup[/]")
    result = invoke("runs", "describe", "-r", churn.run_ids["r0"])
    assert "[bold red]not markup[/]" in result.stdout
    assert "(none)" in result.stdout  # r0 has no dataset inputs


def test_describe_unknown_run(invoke, churn, expect_error):
    expect_error(
        invoke("runs", "describe", "--run-id", "x"), 1, "RESOURCE_DOES_NOT_EXIST: Run with id=x not found"
    )


def test_delete_and_restore(invoke, churn, client):
    run_id = churn.run_ids["r2"]
    result = invoke("runs", "delete", "--run-id", run_id)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Run with id {run_id} has been deleted.\n"
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    result = invoke("runs", "restore", "--run-id", run_id)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Run with id {run_id} has been restored.\n"
    assert client.get_run(run_id).info.lifecycle_stage == "active"


@pytest.mark.parametrize("command", ["delete", "restore"])
def test_delete_or_restore_unknown_run(invoke, client, expect_error, command):
    expect_error(invoke("runs", command, "--run-id", "nope"), 1, "RESOURCE_DOES_NOT_EXIST", "nope")
