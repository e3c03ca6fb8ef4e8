"""The installed console script, run as a real process against a SQLite file: no server needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelyard


def _console_script() -> str:
    beside = Path(sys.executable).with_name("modelyard")
    found = str(beside) if beside.exists() else shutil.which("modelyard")
    if found is None:
        pytest.skip("the `modelyard` console script is not installed (run: pip install -e .)")
    return found


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_console_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    return env


def test_version(tmp_path, clean_env):
    proc = _run("--version", cwd=tmp_path, env=clean_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"modelyard {modelyard.__version__}\n"


def test_runs_list_against_a_sqlite_file(tmp_path, clean_env, churn):
    uri = f"sqlite:///{tmp_path / 'cli.db'}"  # the file the churn fixture logged to
    proc = _run(
        "--tracking-uri",
        uri,
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
        cwd=tmp_path,
        env=clean_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert [run["info"]["run_id"] for run in json.loads(proc.stdout)] == [
        churn.run_ids["r1"],
        churn.run_ids["r2"],
    ]

    clean_env["MODELYARD_TRACKING_URI"] = uri
    table = _run("runs", "list", "-e", "churn", "-c", "metrics.loss", cwd=tmp_path, env=clean_env)
    assert table.returncode == 0, table.stderr
    assert all(run_id in table.stdout for run_id in churn.run_ids.values())
    assert "metrics.loss" in table.stdout


def test_error_is_one_line_and_exit_code_1(tmp_path, clean_env):
    clean_env["MODELYARD_TRACKING_URI"] = f"sqlite:///{tmp_path / 'empty.db'}"
    proc = _run("runs", "describe", "--run-id", "nope", cwd=tmp_path, env=clean_env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "Error: RESOURCE_DOES_NOT_EXIST: Run with id=nope not found\n"


def test_usage_error_exit_code_2(tmp_path, clean_env):
    proc = _run("runs", "list", cwd=tmp_path, env=clean_env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and len(proc.stderr.splitlines()) == 1
