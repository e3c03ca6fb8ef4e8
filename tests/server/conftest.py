"""Server fixtures: the app in-process (``api``), a real uvicorn server (``live_server``), and the
``store`` fixture that runs the store conformance suite over REST against that server.

- ``api``: ``create_app(settings)`` on a fresh SQLite file, called through
  ``httpx.ASGITransport`` (in-process, no sockets). A small synchronous facade keeps the tests
  plain functions.
- ``live_server``: uvicorn in a background thread, bound to 127.0.0.1 port 0 (the port is read
  back from its socket), for the whole session. ``rest_store`` swaps a fresh SQLite store into
  the server's services for each test, so tests never see each other's rows and the server
  starts once; ``module_store`` is a REST store on a server of its own for one test module.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from modelyard.server.app import create_app
from modelyard.server.services import PROXY_SCHEME, Services
from modelyard.settings import Settings
from modelyard.store.tracking.rest import RestTrackingStore
from modelyard.store.tracking.sql.store import SqlTrackingStore
from modelyard.web.http_limits import limits_of, server_config

ARTIFACT_ROOT = f"{PROXY_SCHEME}:"  # what a server serving artifacts gives new experiments


@pytest.fixture(scope="session")
def server_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the schema head, experiment "0" at mlflow-artifacts:/0 (copied per test)."""
    path = tmp_path_factory.mktemp("server-template") / "template.db"
    SqlTrackingStore.from_uri(f"sqlite:///{path}", default_artifact_root=ARTIFACT_ROOT).close()
    return path


def server_settings(tmp_path: Path, template: Path) -> Settings:
    db_file = tmp_path / "server.db"
    shutil.copyfile(template, db_file)
    return Settings.defaults(
        backend_store_uri=f"sqlite:///{db_file}",
        artifacts_destination=str(tmp_path / "artifacts"),
        serve_artifacts=True,
    )


class Api:
    """Synchronous calls into an ASGI app through httpx.ASGITransport (no network), inside the
    app's lifespan (which starts its background workers, as a real server's does)."""

    def __init__(self, app) -> None:
        self.app = app
        self._runner = asyncio.Runner()
        self._lifespan = app.router.lifespan_context(app)
        self._runner.run(self._lifespan.__aenter__())
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self._runner.run(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.run(self._lifespan.__aexit__(None, None, None))
        self._runner.close()


@pytest.fixture(scope="session")
def make_api():
    """``make_api(app)``: the synchronous in-process client, for tests that build their own app."""
    return Api


@pytest.fixture
def api(tmp_path: Path, server_db_template: Path) -> Iterator[Api]:
    """The tracking server in-process, on an empty database (only experiment "0")."""
    settings = server_settings(tmp_path, server_db_template)
    services = Services.from_settings(settings)
    client = Api(create_app(settings, services))
    yield client
    client.close()
    services.close()


@dataclass
class LiveServer:
    url: str
    services: Services
    server: uvicorn.Server


@contextlib.contextmanager
def serve(settings: Settings, timeout_s: float = 10.0) -> Iterator[LiveServer]:
    """Run the app for ``settings`` in uvicorn on a background thread, on 127.0.0.1 and a free port,
    under the settings' HTTP limits (as ``modelyard server`` runs it)."""
    services = Services.from_settings(settings)
    config = server_config(
        create_app(settings, services),
        limits_of(settings.server),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]  # port 0: the OS chose it
        yield LiveServer(f"http://127.0.0.1:{port}", services, server)
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


@pytest.fixture(scope="session")
def serve_app():
    """``serve`` as a fixture (test modules do not import conftest): ``with serve_app(settings) as live``."""
    return serve


def rest_client(url: str) -> RestTrackingStore:
    return RestTrackingStore(url, Settings.defaults(http_request_max_retries=0, http_request_timeout=30))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, server_db_template: Path) -> Iterator[LiveServer]:
    """A real uvicorn server on 127.0.0.1 (port 0), serving artifacts, for the whole session."""
    with serve(server_settings(tmp_path_factory.mktemp("live-server"), server_db_template)) as live:
        yield live


@pytest.fixture
def fresh_backend(
    live_server: LiveServer, tmp_path: Path, server_db_template: Path
) -> Iterator[SqlTrackingStore]:
    """Swap an empty SQLite store into the live server for this test (and back afterwards)."""
    db_file = tmp_path / "rest.db"
    shutil.copyfile(server_db_template, db_file)
    sql = SqlTrackingStore.from_uri(f"sqlite:///{db_file}", default_artifact_root=ARTIFACT_ROOT)
    previous, live_server.services.tracking.store = live_server.services.tracking.store, sql
    yield sql
    live_server.services.tracking.store = previous
    sql.close()


@pytest.fixture
def rest_store(live_server: LiveServer, fresh_backend: SqlTrackingStore) -> Iterator[RestTrackingStore]:
    """A RestTrackingStore talking to the live server, which has an empty database for this test."""
    rest = rest_client(live_server.url)
    yield rest
    rest.close()


@pytest.fixture(scope="module")
def module_store(
    tmp_path_factory: pytest.TempPathFactory, server_db_template: Path
) -> Iterator[RestTrackingStore]:
    """A RestTrackingStore shared by a module's tests, on a server of its own (so that the
    per-test swaps of ``rest_store`` never touch its data)."""
    with serve(server_settings(tmp_path_factory.mktemp("module-server"), server_db_template)) as live:
        rest = rest_client(live.url)
        yield rest
        rest.close()


@pytest.fixture
def backend() -> str:
    """The backend name the conformance tests may ask for (tests/store parametrizes it per database)."""
    return "rest"
