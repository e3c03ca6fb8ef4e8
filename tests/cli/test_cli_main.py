"""The root command: version, help, global options, error boundary, logging."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import modelyard
from modelyard.cli.main import COMMANDS
from modelyard.tracking.client import TrackingClient


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"modelyard {modelyard.__version__}\n"


def test_help_lists_every_group(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("artifacts", "db", "experiments", "runs"):
        assert name in result.stdout
    assert "--tracking-uri" in result.stdout


def test_every_group_has_help(invoke):
    for name in COMMANDS:
        result = invoke(name, "--help")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Usage: modelyard {name} ")


def test_help_imports_nothing_heavy():
    """`modelyard --help` must not import SQLAlchemy, alembic, rich or pandas (start-up time)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from modelyard.cli.main import cli\n"
        "runner = CliRunner()\n"
        "for args in (['--help'], ['runs', '--help'], ['runs', 'list', '--help'], ['db', '--help']):\n"
        "    assert runner.invoke(cli, args).exit_code == 0, args\n"
        "print(','.join(m for m in ('sqlalchemy', 'alembic', 'rich', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_command_is_a_usage_error(invoke, expect_error):
    result = invoke("bogus")
    line = expect_error(result, 2, "No such command 'bogus'")
    assert "--help" in line


def test_unknown_option_is_a_usage_error(invoke, expect_error):
    expect_error(
        invoke("runs", "describe", "--bogus"),
        2,
        "No such option",
        "--bogus",
        "'modelyard runs describe --help'",
    )


def test_missing_required_option_is_a_usage_error(invoke, expect_error):
    expect_error(invoke("runs", "describe"), 2, "Missing RUN_ID: give it as the argument or with --run-id")


def test_error_line_is_red_on_a_terminal(invoke):
    result = invoke("runs", "describe", "--run-id", "nope", color=True)
    assert result.exit_code == 1
    assert result.stderr.startswith("\x1b[31mError: RESOURCE_DOES_NOT_EXIST")


def test_error_line_has_no_colour_when_piped(invoke):
    result = invoke("runs", "describe", "--run-id", "nope")
    assert "\x1b[" not in result.stderr


def test_tracking_uri_flag_wins_over_the_environment(invoke, tracking_uri, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = invoke("--tracking-uri", other, "experiments", "create", "-n", "flagged")
    assert result.exit_code == 0, result.output
    assert TrackingClient(other).get_experiment_by_name("flagged") is not None
    assert TrackingClient(tracking_uri).get_experiment_by_name("flagged") is None


def test_tracking_uri_from_the_environment(invoke, tracking_uri):
    assert invoke("experiments", "create", "-n", "from-env").exit_code == 0
    assert TrackingClient(tracking_uri).get_experiment_by_name("from-env") is not None


def test_folder_tracking_uri_is_refused_with_a_way_forward(invoke, expect_error, tmp_path):
    result = invoke("--tracking-uri", str(tmp_path), "experiments", "list")
    expect_error(result, 1, "INVALID_PARAMETER_VALUE", "sqlite:///")


def test_malformed_setting_is_one_error_line(invoke, expect_error, monkeypatch):
    monkeypatch.setenv("MODELYARD_SQL_POOL_SIZE", "many")
    result = invoke("experiments", "list")
    expect_error(result, 1, "INVALID_PARAMETER_VALUE", "MODELYARD_SQL_POOL_SIZE")


def test_unexpected_error_is_one_line_without_debug(invoke, expect_error, monkeypatch):
    def boom(self, run_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(TrackingClient, "get_run", boom)
    result = invoke("runs", "describe", "--run-id", "x")
    expect_error(result, 1, "INTERNAL_ERROR: RuntimeError: boom", "--debug")


def test_debug_lets_unexpected_errors_through(invoke, monkeypatch):
    def boom(self, run_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(TrackingClient, "get_run", boom)
    result = invoke("--debug", "runs", "describe", "--run-id", "x")
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


def test_modelyard_errors_stay_one_line_under_debug(invoke, expect_error, client):
    client.get_experiment("0")  # the schema exists, so --debug has nothing to log
    expect_error(invoke("--debug", "runs", "describe", "--run-id", "nope"), 1, "RESOURCE_DOES_NOT_EXIST")


def test_verbose_logs_to_stderr_and_logging_is_restored(invoke, tmp_path):
    logger = logging.getLogger("modelyard")
    handlers, level = list(logger.handlers), logger.level
    quiet = invoke("db", "upgrade", f"sqlite:///{tmp_path / 'quiet.db'}")
    assert quiet.exit_code == 0
    assert "database upgraded" not in quiet.stderr
    loud = invoke("-v", "db", "upgrade", f"sqlite:///{tmp_path / 'loud.db'}")
    assert loud.exit_code == 0
    assert "INFO modelyard.store.sql.migrate: database upgraded to head" in loud.stderr
    assert "database upgraded" not in loud.stdout
    assert logger.handlers == handlers and logger.level == level


def test_json_output_is_strict_json(invoke, churn, client):
    client.log_metric(churn.run_ids["r0"], "gap", float("nan"))
    client.log_metric(churn.run_ids["r0"], "upper", float("inf"))
    result = invoke("runs", "describe", "--run-id", churn.run_ids["r0"], "--output", "json")

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(result.stdout, parse_constant=refuse)
    metrics = {m["key"]: m["value"] for m in data["data"]["metrics"]}
    assert metrics["gap"] == "NaN" and metrics["upper"] == "Infinity"


def test_multi_line_error_messages_become_one_line(invoke, expect_error, monkeypatch):
    from modelyard.exceptions import InvalidState

    def fail(self, run_id):
        raise InvalidState("first line\n  second line\n")

    monkeypatch.setattr(TrackingClient, "get_run", fail)
    expect_error(invoke("runs", "describe", "-r", "x"), 1, "INVALID_STATE: first line second line")
