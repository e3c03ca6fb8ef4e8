"""Web UI fixtures: a live server with a browser (Playwright driving Debian's Chromium), and in-process pages.

- ``ui_server``: a real uvicorn server on 127.0.0.1 (port 0) on a fresh SQLite store, one per test
  module; ``ui_server.services.tracking.store`` / ``.registry`` seed data directly.
- ``browser``: headless Chromium (one per test module) (``/usr/bin/chromium`` from Debian, installed by ``.ci/run``;
  Playwright never downloads a browser). Missing Chromium skips, or fails under
  ``MODELYARD_REQUIRE_SERVICES=1`` (CI).
- ``page``: a fresh 1280x800 page that records console errors and uncaught exceptions; the test
  fails at teardown if there were any. ``screenshot(page, name)`` writes
  ``test-output/screenshots/<name>.png`` (a test output, gitignored).
- ``ui_api``: the same app in-process through httpx (no browser) for fast page tests.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _load(relative: str, name: str):
    """A conftest of another test folder as a plain module (its helpers, not its fixtures)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


server = _load("server/conftest.py", "modelyard_tests_server_fixtures")  # serve(), server_settings(), Api
services_check = _load("conftest.py", "modelyard_tests_root_fixtures")  # service_unavailable()


@pytest.fixture(scope="session")
def server_helpers():
    """tests/server/conftest.py as a module (serve(), server_settings()) for tests that start a
    server of their own: test modules can't import a conftest by name."""
    return server


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory, server_db_template: Path):
    """A live tracking server (with the UI) on its own SQLite store for this test module."""
    settings = server.server_settings(tmp_path_factory.mktemp("ui-server"), server_db_template)
    with server.serve(settings) as live:
        yield live


@pytest.fixture(scope="session")
def server_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui-template") / "template.db"
    server.SqlTrackingStore.from_uri(f"sqlite:///{path}", default_artifact_root=server.ARTIFACT_ROOT).close()
    return path


@pytest.fixture
def ui_api(tmp_path: Path, server_db_template: Path):
    """The server in-process (``.get``/``.post``), with ``.services`` to seed data."""
    settings = server.server_settings(tmp_path, server_db_template)
    services = server.Services.from_settings(settings)
    client = server.Api(server.create_app(settings, services))
    client.services = services
    yield client
    client.close()
    services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Playwright, for one test module.

    Module scope, not session: Playwright's sync API keeps an event loop running on the main
    thread while it is open, and tests that drive an ASGI app through their own loop (``ui_api``,
    the server tests) cannot run inside it.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        services_check.service_unavailable("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A 1280x800 page; console errors and uncaught page errors fail the test at teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    problems: list[str] = []
    pg.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.set_default_timeout(15_000)
    pg.console_problems = problems
    yield pg
    context.close()
    assert not problems, "the browser reported errors:\n" + "\n".join(problems)


def png_bytes(width: int, height: int) -> bytes:
    """A valid RGB PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x1f\x5f\xbf" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def make_png():
    """``make_png(width, height)``: PNG bytes for image artifacts."""
    return png_bytes


def screenshot(pg, name: str) -> Path:
    """Save a full-page screenshot as ``test-output/screenshots/<name>.png`` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def shot():
    """``shot(page, name)``: screenshot helper as a fixture (test modules can't import conftest)."""
    return screenshot
