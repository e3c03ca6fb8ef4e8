"""Serving fixtures: models saved once per session, a registry with two versions, the app in-process
(``Serving``, through httpx.ASGITransport) and a real uvicorn server on 127.0.0.1 port 0 (``live``).

The two registered versions tell themselves apart by their answers: version 1 predicts classes
0 / 1, version 2 the same rows as 10 / 11, so a test can check that the version a response names
(header ``X-Modelyard-Model-Version``) is the one that computed it.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import threading  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
import uvicorn  # noqa: E402
from model_fixtures import data, estimators, model_dir, registry  # noqa: E402,F401  (shared with tests/serving, tests/streaming)
from serving_helpers import COLUMNS, wait_until  # noqa: E402

from modelyard.serving import ServeConfig, create_scoring_app  # noqa: E402
from modelyard.serving.config import parse_models  # noqa: E402


@pytest.fixture(scope="session")
def columns() -> list[str]:
    return COLUMNS


class Serving:
    """The scoring app in-process: its service started (models loading), calls through ASGITransport."""

    def __init__(self, config: ServeConfig, wait_ready: bool = True) -> None:
        self.app = create_scoring_app(config)
        self.service = self.app.state.service
        self.service.start()
        if wait_ready:
            wait_until(lambda: self.service.slots.ready or self.failed, what="the models to load")
        self._runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://serving")

    @property
    def failed(self) -> bool:
        return any(s.state == "failed" for s in self.service.slots.slots.values())

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self._runner.run(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def gather(self, *coros):
        async def all_of():
            return await asyncio.gather(*coros)

        return self._runner.run(all_of())

    def close(self) -> None:
        self._runner.run(self.client.aclose())
        self._runner.close()
        self.service.stop()


@pytest.fixture
def serve():
    """``serve(*model_specs, **config)`` -> a started ``Serving``; closed after the test."""
    opened: list[Serving] = []

    def start(*specs: str, wait_ready: bool = True, **options) -> Serving:
        serving = Serving(ServeConfig(models=parse_models(specs), **options), wait_ready=wait_ready)
        opened.append(serving)
        return serving

    yield start
    for serving in opened:
        serving.close()


@pytest.fixture
def live():
    """``live(*model_specs, **config)`` -> (base URL, service): uvicorn on 127.0.0.1 port 0 in a thread."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(*specs: str, **options):
        app = create_scoring_app(ServeConfig(models=parse_models(specs), **options))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        started.append((server, thread))
        service = app.state.service
        wait_until(lambda: service.slots.ready, what="the models to load")
        return f"http://127.0.0.1:{port}", service

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(timeout=30)
