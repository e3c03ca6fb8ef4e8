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
    _run("experiments", "create", "-n", "first", cwd=tmp_path, env=clean_env)  # writing creates the file
    proc = _run("runs", "describe", "--run-id", "nope", cwd=tmp_path, env=clean_env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "Error: RESOURCE_DOES_NOT_EXIST: Run with id=nope not found\n"


def test_reading_where_there_is_no_database_creates_nothing_and_says_why(tmp_path, clean_env):
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    proc = _run("runs", "list", "-e", "quickstart", cwd=elsewhere, env=clean_env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"Error: There is no tracking database at {elsewhere / 'modelyard.db'} (tracking URI "
        f"sqlite:///{elsewhere / 'modelyard.db'}, the default: modelyard.db in the working directory; set "
        "--tracking-uri or $MODELYARD_TRACKING_URI). Log a run or start 'modelyard server' to create one, or "
        "point the tracking URI at an existing one.\n"
    )
    typo = _run("--tracking-uri", "sqlite:///nonexistent_dir/x.db", "experiments", "list", cwd=elsewhere, env=clean_env)
    assert typo.returncode == 1 and "There is no tracking database at" in typo.stderr
    assert "nonexistent_dir/x.db" in typo.stderr and "from --tracking-uri" in typo.stderr
    assert list(elsewhere.iterdir()) == []  # no database, no lock file, no artifact folder


def test_writing_creates_the_database_file_but_not_missing_folders(tmp_path, clean_env):
    typo = _run("--tracking-uri", "sqlite:///nonexistent_dir/x.db", "experiments", "create", "-n", "e", cwd=tmp_path, env=clean_env)
    assert typo.returncode == 1
    assert typo.stderr.startswith(f"Error: INVALID_PARAMETER_VALUE: Cannot create the tracking database {tmp_path}/nonexistent_dir/x.db")
    assert "the folder" in typo.stderr and "does not exist" in typo.stderr
    assert not (tmp_path / "nonexistent_dir").exists()
    made = _run("--tracking-uri", "sqlite:///x.db", "experiments", "create", "-n", "e", cwd=tmp_path, env=clean_env)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "x.db").is_file()


def test_usage_error_exit_code_2(tmp_path, clean_env):
    proc = _run("runs", "list", cwd=tmp_path, env=clean_env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and len(proc.stderr.splitlines()) == 1
