"""Helpers shared by the serving tests (importable as ``serving_helpers``; conftest holds the fixtures)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

COLUMNS = [f"f{i}" for i in range(6)]


def split_body(frame: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServeProcess:
    """``python -m modelyard.cli.main ... models serve`` with stderr in a file; the port read from it."""

    def __init__(self, tmp_path: Path, tracking_uri: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = tmp_path / "serve.log"
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
        env.update(OMP_WAIT_POLICY="passive", MODELYARD_DEFAULT_ARTIFACT_ROOT=str(tmp_path / "artifacts"), **extra)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        cmd = [sys.executable, "-m", "modelyard.cli.main", "--tracking-uri", tracking_uri, "models", "serve", *args]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_until(lambda: self._port() is not None or self.proc.poll() is not None, 60, "the server to start")
        port = self._port()
        assert port is not None, self.log.read_text()
        self.url = f"http://127.0.0.1:{port}"

    def _port(self) -> int | None:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log.read_text())
        return int(found.group(1)) if found else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and its worker processes
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ping", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
