"""`modelyard server` starts a real server on the embedded default and answers MLflow's API."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "server", "--port", "0", *args],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            _wait_healthy(m.group(1))
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never became healthy")


def test_server_on_the_embedded_default(tmp_path):
    proc, url = _start(tmp_path)
    try:
        assert httpx.get(f"{url}/health").text == "OK"
        r = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "cli-server"})
        assert r.status_code == 200, r.text
        exp = httpx.get(f"{url}/api/2.0/mlflow/experiments/get", params={"experiment_id": r.json()["experiment_id"]})
        assert exp.json()["experiment"]["artifact_location"].startswith("mlflow-artifacts:")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "modelyard.db").exists()  # the embedded default, in the working directory


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: the check runs in a forked child process
def test_server_refuses_an_old_schema(tmp_path, workers):
    import sqlite3

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
    con.execute("INSERT INTO alembic_version VALUES ('0000')")
    con.commit()
    con.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    out = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "server", "--port", "0", "--workers", workers, "--backend-store-uri", f"sqlite:///{db}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert "modelyard db upgrade" in out.stderr and "Traceback" not in out.stderr


def test_default_workers_is_one_per_usable_core_at_most_four():
    import os

    from modelyard.cli.server import default_workers

    assert default_workers() == max(1, min(len(os.sched_getaffinity(0)), 4))


@pytest.fixture
def server_settings_seen(monkeypatch, tmp_path) -> list:
    """Run ``modelyard server`` in-process up to the point where uvicorn would start; the settings
    it would serve with are appended to the list (nothing listens, nothing is migrated)."""
    from modelyard.cli import _uvicorn
    from modelyard.cli import server as server_cli

    seen: list = []
    monkeypatch.setattr(server_cli, "claim_port", lambda host, port: port)
    monkeypatch.setattr(
        server_cli, "prepare_database", lambda settings, in_child: seen.append(settings) or (lambda: None)
    )
    monkeypatch.setattr(server_cli, "preload_app", lambda settings: None)
    monkeypatch.setattr(_uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    return seen


@pytest.mark.parametrize(
    ("env", "args", "host", "port"),
    [
        ({}, [], "127.0.0.1", 5000),  # the built-in defaults
        ({"MODELYARD_HOST": "0.0.0.0", "MODELYARD_PORT": "6123"}, [], "0.0.0.0", 6123),  # env over defaults
        (
            {"MODELYARD_HOST": "0.0.0.0", "MODELYARD_PORT": "6123"},
            ["--host", "::1", "--port", "7001"],
            "::1",
            7001,
        ),
        ({"MODELYARD_PORT": "6123"}, ["-p", "7002"], "127.0.0.1", 7002),  # flags over env
    ],
)
def test_server_host_and_port_flags_then_environment_then_defaults(
    server_settings_seen, env, args, host, port
):
    from click.testing import CliRunner

    from modelyard.cli.main import cli

    env = {"MODELYARD_HOST": None, "MODELYARD_PORT": None, "MODELYARD_WORKERS": None, **env}
    result = CliRunner().invoke(cli, ["server", "--workers", "1", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (settings,) = server_settings_seen
    assert (settings.server.host, settings.server.port) == (host, port)
    assert f"listening on http://{host}:{port}" in result.output


def test_a_database_check_child_that_dies_silently_is_reported(monkeypatch):
    """The check child is started before the app's imports and waited for after them: a child that
    exits without sending its outcome is one clear error with its exit code, not a hang."""
    from modelyard.cli import server as server_cli
    from modelyard.cli._context import CliError

    monkeypatch.setattr(server_cli, "_check_in_child", lambda settings, send: os._exit(3))
    wait = server_cli.prepare_database(settings=None, in_child=True)
    with pytest.raises(CliError, match="exit code 3"):
        wait()
