"""CLI papercuts of a first hour (issue 19, item 6): whole summaries in ``--help``, and one resource
named by a plain argument (``modelyard experiments get quickstart``, ``modelyard runs describe <id>``)."""

from __future__ import annotations

import json

from modelyard.cli.main import COMMANDS


def test_root_help_shows_every_summary_whole(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    commands = result.output.split("Commands:", 1)[1]
    assert "..." not in commands
    summary = " ".join(result.output.split())
    assert "Use logged models: batch predictions (and, with the registry, register and promote them)." in summary
    for name in COMMANDS:
        assert f" {name} " in summary


def test_experiments_get_takes_a_name_or_an_id(invoke, client):
    experiment_id = client.create_experiment("quickstart")
    by_name = invoke("experiments", "get", "quickstart", "-o", "json")
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["experiment_id"] == experiment_id
    by_id = invoke("experiments", "get", experiment_id, "-o", "json")
    assert json.loads(by_id.stdout)["name"] == "quickstart"
    assert invoke("experiments", "get", "-n", "quickstart").exit_code == 0  # the options still work


def test_experiment_commands_take_the_name_as_argument(invoke, client, expect_error):
    experiment_id = client.create_experiment("old")
    assert invoke("experiments", "rename", "old", "--new-name", "new").exit_code == 0
    assert client.get_experiment(experiment_id).name == "new"
    assert invoke("experiments", "delete", "new").exit_code == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert invoke("experiments", "restore", experiment_id).exit_code == 0
    expect_error(invoke("experiments", "get", "nope"), 1, "No experiment with name or id 'nope'")


def test_runs_describe_takes_the_id_as_argument(invoke, churn, expect_error):
    run_id = churn.run_ids["r1"]
    result = invoke("runs", "describe", run_id, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["info"]["run_id"] == run_id
    expect_error(invoke("runs", "describe", run_id, "--run-id", "other"), 2, "Give RUN_ID once")
