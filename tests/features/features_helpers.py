"""Helpers shared by the feature tests (importable as ``features_helpers``; conftest holds the fixtures)."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ts(days: float) -> datetime:
    return T0 + timedelta(days=days)


@contextlib.contextmanager
def serve(settings, timeout_s: float = 20.0):
    """The app for ``settings`` in uvicorn on a background thread (127.0.0.1, a free port); yields its URL."""
    import uvicorn

    from modelyard.server.app import create_app
    from modelyard.server.services import Services

    services = Services.from_settings(settings)
    config = uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=0, log_level="warning",
                            ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-features-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


def service_unavailable(reason: str) -> None:
    """tests/conftest.py's rule: skip on a laptop, fail when MODELYARD_REQUIRE_SERVICES is set."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "modelyard_tests_root_fixtures"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    module.service_unavailable(reason)
