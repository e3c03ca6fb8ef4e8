"""Compatibility fixtures: our server, driven by the real ``mlflow`` client in a subprocess.

- ``compat_server``: ``create_app`` under a real uvicorn, in a thread of the test process, bound
  to 127.0.0.1 port 0 (read back from its socket), over a temporary SQLite database and a
  temporary artifacts destination, serving artifacts. One server for the session; every test
  works in experiments of its own (``unique``), so tests never see each other's rows.
- ``mlflow3``: the mlflow 3.17.2 of the test environment (a ``test`` extra of pyproject.toml).
- ``mlflow2``: the newest mlflow 2.x (``mlflow-skinny``, enough for a tracking client), in its own
  virtualenv created on first use under ``.venv-compat/`` in the repository root and reused
  afterwards (a marker file records what was installed).

Client code runs in a subprocess with a clean environment: ``MLFLOW_TRACKING_URI`` points at the
server, telemetry is off, and ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` makes a failing request fail
at once instead of after minutes of back-off. A script reports with ``emit(obj)``; the test gets
``obj`` back (JSON) and asserts on what mlflow returned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelyard.server.app import create_app
from modelyard.server.services import Services
from modelyard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPAT_VENVS = ROOT / ".venv-compat"
MLFLOW2_REQUIREMENT = "mlflow-skinny==2.22.5"  # the newest 2.x release
RESULT_MARK = "COMPAT-RESULT:"
SCRIPT_TIMEOUT_S = 120
# Variables a client subprocess inherits; everything else (MLFLOW_*, MODELYARD_*, ...) is dropped.
INHERITED = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

PRELUDE = f"""
import json, sys
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def emit(obj):
    print({RESULT_MARK!r} + json.dumps(obj), flush=True)


def error_code(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except MlflowException as exc:
        return exc.error_code
    return None
"""


@dataclass
class CompatServer:
    url: str
    services: Services
    artifacts: Path


def _start(app, timeout_s: float = 10.0) -> tuple[uvicorn.Server, threading.Thread, int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-compat-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the compatibility test server did not start")
        time.sleep(0.01)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


@pytest.fixture(scope="session")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatServer]:
    """Our tracking server on 127.0.0.1 (port 0), SQLite in a temp dir, serving artifacts."""
    root = tmp_path_factory.mktemp("compat-server")
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        artifacts_destination=str(root / "artifacts"),
        serve_artifacts=True,
    )
    services = Services.from_settings(settings)
    server, thread, port = _start(create_app(settings, services))
    yield CompatServer(f"http://127.0.0.1:{port}", services, root / "artifacts")
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class MlflowClientEnv:
    """One installation of the mlflow client, pointed at ``server``."""

    python: str
    server: CompatServer
    workdir: Path

    def run(self, body: str, *, timeout: float = SCRIPT_TIMEOUT_S) -> Any:
        """Run ``PRELUDE + body`` (dedented) and return what it passed to ``emit``."""
        script = self.workdir / f"script_{uuid.uuid4().hex[:8]}.py"
        script.write_text(PRELUDE + "\n" + textwrap.dedent(body))
        out = subprocess.run(
            [self.python, str(script)],
            cwd=self.workdir,
            env=client_env(self.server.url, self.workdir),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        results = [
            line[len(RESULT_MARK) :] for line in out.stdout.splitlines() if line.startswith(RESULT_MARK)
        ]
        if out.returncode != 0 or len(results) != 1:
            pytest.fail(
                f"mlflow client script failed (exit {out.returncode}):\n--- stdout\n{out.stdout[-4000:]}"
                f"\n--- stderr\n{out.stderr[-8000:]}",
                pytrace=False,
            )
        return json.loads(results[0])


def client_env(url: str, home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    env.update(
        HOME=str(home),
        MLFLOW_TRACKING_URI=url,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="60",
        GIT_PYTHON_REFRESH="quiet",  # no git executable warnings from the client
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture(scope="session")
def mlflow3(compat_server: CompatServer, tmp_path_factory: pytest.TempPathFactory) -> MlflowClientEnv:
    """The mlflow 3 client installed in this environment (``pip install -e '.[test]'``)."""
    return MlflowClientEnv(sys.executable, compat_server, tmp_path_factory.mktemp("mlflow3-client"))


def _mlflow2_python() -> str:
    """The interpreter of the cached mlflow 2.x virtualenv, creating the env on first use."""
    venv = COMPAT_VENVS / "mlflow2"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = venv / "installed.txt"
    if marker.exists() and marker.read_text().strip() == MLFLOW2_REQUIREMENT and python.exists():
        return str(python)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    tmp = venv.with_name(f"mlflow2-{uuid.uuid4().hex[:8]}")  # built aside, renamed when complete
    try:
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True, capture_output=True, timeout=300)
        tmp_python = tmp / python.relative_to(venv)
        pip = [str(tmp_python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        done = subprocess.run([*pip, MLFLOW2_REQUIREMENT], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"could not install {MLFLOW2_REQUIREMENT}:\n{done.stderr[-4000:]}", pytrace=False)
        (tmp / "installed.txt").write_text(MLFLOW2_REQUIREMENT + "\n")
        try:
            tmp.rename(venv)
        except OSError:  # another session finished first: use its env
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists() and not venv.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(python)


@pytest.fixture(scope="session")
def mlflow2(compat_server: CompatServer, tmp_path_factory: pytest.TempPathFactory) -> MlflowClientEnv:
    """The newest mlflow 2.x client (mlflow-skinny) in its own cached virtualenv."""
    return MlflowClientEnv(_mlflow2_python(), compat_server, tmp_path_factory.mktemp("mlflow2-client"))


@pytest.fixture
def unique() -> str:
    """A name no other test uses (experiments live for the whole session)."""
    return f"compat-{uuid.uuid4().hex[:10]}"
