"""Helpers shared by the streaming tests (importable as ``stream_helpers``; conftest holds the fixtures)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

COLUMNS = [f"f{i}" for i in range(20)]
REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _root_conftest():
    """tests/conftest.py as a plain module (for ``service_unavailable``)."""
    import importlib.util

    name = "modelyard_tests_root_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def service_unavailable(reason: str) -> None:
    """Skip on a laptop without the service; fail when CI requires services (tests/conftest.py)."""
    _root_conftest().service_unavailable(reason)
MODELYARD = str(Path(sys.executable).parent / "modelyard")


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_until(runner, condition: Callable[[], bool], timeout: float = 60.0, during: Callable[[], None] | None = None):
    """Run ``runner`` in-process until ``condition()``; then stop it gracefully and wait for it."""

    async def main():
        task = asyncio.create_task(runner.run())
        deadline = time.monotonic() + timeout
        done_during = during is None
        while True:
            if task.done():
                task.result()
                raise AssertionError("the stream stopped by itself")
            if runner.state == "running" and not done_during:
                await asyncio.to_thread(during)
                done_during = True
            if runner.state == "running" and await asyncio.to_thread(condition):
                break
            if time.monotonic() > deadline:
                runner.stop()
                await task
                raise AssertionError("timed out waiting for the stream")
            await asyncio.sleep(0.05)
        runner.stop()
        await task
        return runner

    return asyncio.run(main())


def start_cli(*args: str, env_extra: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_WAIT_POLICY="passive", OMP_NUM_THREADS="1", **(env_extra or {}))
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    return subprocess.Popen([MODELYARD, *args], env=env, stdout=out, stderr=out)


def event(i: int, value: float) -> bytes:
    return orjson.dumps({c: value + k for k, c in enumerate(COLUMNS)} | {"n": i})
