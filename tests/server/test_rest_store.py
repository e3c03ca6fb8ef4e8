"""RestTrackingStore: the store conformance suite over HTTP against a live server, plus the
HTTP concerns of its own: retries with backoff, unreachable servers, auth headers, error mapping.

The conformance tests are the very functions of ``tests/store/test_conformance_*.py``, imported
here so that they run with this package's ``store`` fixture (REST -> live uvicorn -> SQLite).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from modelyard.entities import Metric
from modelyard.exceptions import (
    EndpointNotFound,
    InvalidParameterValue,
    ModelyardError,
    PermissionDenied,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
)
from modelyard.plugins import TRACKING_STORES, resolve
from modelyard.settings import Settings
from modelyard.store.tracking.rest import RestTrackingStore
from modelyard.tracking import stores
from modelyard.tracking.client import TrackingClient

STORE_TESTS = Path(__file__).resolve().parents[1] / "store"
# Fixtures of tests/server/conftest.py that a conformance module may override for its own tests.
BASE_FIXTURES = {"store": "rest_store"}


def _is_fixture(obj: object) -> bool:
    return type(obj).__name__ == "FixtureFunctionDefinition"


def _dispatcher(name: str, by_module: dict[str, str], fallback: str | None):
    """A fixture ``name`` that resolves, per test, to the version of the test's own module."""

    @pytest.fixture(name=name)
    def dispatch(request: pytest.FixtureRequest):
        target = by_module.get(request.function.__module__, fallback)
        if target is None:
            pytest.fail(f"fixture {name!r} is not defined for {request.function.__module__}")
        return request.getfixturevalue(target)

    return dispatch


def _conformance_members() -> dict:
    """The tests and fixtures of every tests/store/test_conformance_*.py, ready to collect here.

    Each module is loaded under its own name. A fixture defined by one module only (``run_id``,
    ``seeded``) is used as is; a name defined by several modules, or overriding a fixture of
    ``tests/server/conftest.py`` (``store`` in the search module), is registered once per module
    under a private name, and a dispatcher under the public name picks the one of the
    requesting test's module, so every test sees exactly the fixtures of its own module.
    """
    tests: dict = {}
    fixtures: dict[str, dict[str, object]] = {}
    for path in sorted(STORE_TESTS.glob("test_conformance_*.py")):
        spec = importlib.util.spec_from_file_location(f"_rest_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj) and getattr(obj, "__module__", None) == spec.name:
                assert name not in tests, f"two conformance modules define {name}"
                tests[name] = obj
            elif _is_fixture(obj):
                fixtures.setdefault(name, {})[spec.name] = obj
    members = dict(tests)
    for name, versions in fixtures.items():
        if len(versions) == 1 and name not in BASE_FIXTURES:
            (members[name],) = versions.values()
            continue
        private = {module: f"_{module}__{name}" for module in versions}
        members.update({private[module]: fx for module, fx in versions.items()})
        members[name] = _dispatcher(name, private, BASE_FIXTURES.get(name))
    for name, target in BASE_FIXTURES.items():
        members.setdefault(name, _dispatcher(name, {}, target))
    return members


globals().update(_conformance_members())


# -- the store is found by scheme ----------------------------------------------------------------
def test_http_schemes_resolve_to_rest_store() -> None:
    for scheme in ("http", "https"):
        factory = resolve(TRACKING_STORES, "modelyard.tracking_store", scheme, "tracking store")
        store = factory("http://127.0.0.1:1", Settings.defaults())
        assert isinstance(store, RestTrackingStore)
        store.close()


# -- retries -------------------------------------------------------------------------------------
class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then the experiment "0"."""

    failures = 2
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen.append(self.path)
        if len(self.seen) <= self.failures:
            body, status = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}', 503
        else:
            experiment = {"experiment_id": "0", "name": "Default", "artifact_location": "x/0"}
            body, status = json.dumps({"experiment": experiment}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, type[_Flaky]]]:
    handler = type("Flaky", (_Flaky,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _store(uri: str, retries: int, sleeps: list[float] | None = None, **settings) -> RestTrackingStore:
    return RestTrackingStore(
        uri,
        Settings.defaults(http_request_max_retries=retries, http_request_timeout=5, **settings),
        backoff_factor=0.01,
        backoff_jitter=0.005,
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def test_retries_503_then_succeeds(flaky_server) -> None:
    url, handler = flaky_server
    sleeps: list[float] = []
    store = _store(url, retries=3, sleeps=sleeps)
    try:
        assert store.get_experiment("0").name == "Default"
    finally:
        store.close()
    assert handler.seen == ["/api/2.0/mlflow/experiments/get?experiment_id=0"] * 3
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.015 and 0.02 <= sleeps[1] <= 0.025  # exponential, with jitter


def test_gives_up_after_max_retries(flaky_server) -> None:
    url, handler = flaky_server
    store = _store(url, retries=1)
    try:
        with pytest.raises(TemporarilyUnavailable, match="busy"):
            store.get_experiment("0")
    finally:
        store.close()
    assert len(handler.seen) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_fails_at_once_naming_the_url_and_what_to_check() -> None:
    port = _closed_port()
    sleeps: list[float] = []
    store = _store(f"http://127.0.0.1:{port}", retries=5, sleeps=sleeps)
    try:
        with pytest.raises(TemporarilyUnavailable) as caught:
            store.get_run("0" * 32)
    finally:
        store.close()
    message = caught.value.message
    assert f"Cannot connect to the tracking server at http://127.0.0.1:{port}" in message
    assert "Check that the server is running" in message and "--tracking-uri" in message
    assert sleeps == []  # no retry: waiting does not start a server
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_timeouts_are_retried_and_each_retry_is_announced(caplog) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"experiment": {"experiment_id": "0", "name": "Default"}})

    sleeps: list[float] = []
    store = RestTrackingStore(
        "http://tracking.test", Settings.defaults(http_request_max_retries=4), transport=httpx.MockTransport(handler),
        backoff_factor=0.01, backoff_jitter=0.0, sleep=sleeps.append,
    )
    with caplog.at_level("WARNING", logger="modelyard.http_retry"):
        assert store.get_experiment("0").name == "Default"
    store.close()
    assert len(sleeps) == 2
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2 and "retrying in" in retries[0] and "(retry 1 of 4)" in retries[0]
    assert "http://tracking.test/api/2.0/mlflow/experiments/get" in retries[0]


def test_a_500_answer_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500, json={"error_code": "INTERNAL_ERROR", "message": "boom"})

    store = RestTrackingStore(
        "http://tracking.test", Settings.defaults(http_request_max_retries=4), transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
    )
    with pytest.raises(ModelyardError, match="boom"):
        store.get_experiment("0")
    store.close()
    assert len(calls) == 1


def test_cli_against_a_server_that_is_not_there_says_so_in_one_line() -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import cli

    port = _closed_port()
    result = CliRunner().invoke(cli, ["--tracking-uri", f"http://127.0.0.1:{port}", "experiments", "list"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"Cannot connect to the tracking server at http://127.0.0.1:{port}" in lines[0]
    assert "INTERNAL_ERROR" not in lines[0] and "Traceback" not in result.output


def test_retry_after_header_is_honoured() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "3"}, json={"error_code": "REQUEST_LIMIT_EXCEEDED"}
            )
        return httpx.Response(200, json={})

    sleeps: list[float] = []
    store = RestTrackingStore(
        "http://tracking.test",
        Settings.defaults(http_request_max_retries=2),
        transport=httpx.MockTransport(handler),
        backoff_factor=0.01,
        backoff_jitter=0,
        sleep=sleeps.append,
    )
    store.delete_run("abc")
    store.close()
    assert sleeps == [3.0]


# -- auth and headers ----------------------------------------------------------------------------
def _recording_store(
    settings: Settings, uri: str = "http://tracking.test/prefix"
) -> tuple[RestTrackingStore, list]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"experiment_id": "7"})

    return RestTrackingStore(uri, settings, transport=httpx.MockTransport(handler)), seen


def test_bearer_token_header() -> None:
    store, seen = _recording_store(
        Settings.defaults(tracking_token="s3cret", tracking_username="u", tracking_password="p")
    )
    assert store.create_experiment("e", tags={"a": 1}) == "7"  # type: ignore[dict-item]
    request = seen[0]
    assert request.headers["authorization"] == "Bearer s3cret"  # the token wins
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("modelyard/")
    assert str(request.url) == "http://tracking.test/prefix/api/2.0/mlflow/experiments/create"
    assert json.loads(request.content) == {
        "name": "e",
        "artifact_location": None,
        "tags": [{"key": "a", "value": "1"}],
    }


def test_basic_auth_header() -> None:
    store, seen = _recording_store(Settings.defaults(tracking_username="alice", tracking_password="pw:1"))
    store.create_experiment("e")
    assert (
        seen[0].headers["authorization"] == "Basic " + __import__("base64").b64encode(b"alice:pw:1").decode()
    )


def test_no_auth_header_by_default() -> None:
    store, seen = _recording_store(Settings.defaults(tracking_username="alice"))  # no password: no basic auth
    store.create_experiment("e")
    assert "authorization" not in seen[0].headers


def test_auth_settings_from_environment() -> None:
    env = {"MLFLOW_TRACKING_USERNAME": "bob", "MLFLOW_TRACKING_PASSWORD": "x", "MLFLOW_TRACKING_TOKEN": "t"}
    s = Settings.from_env(env)
    assert (s.client.tracking_username, s.client.tracking_password, s.client.tracking_token, s.client.user) == ("bob", "x", "t", None)
    s = Settings.from_env({**env, "MODELYARD_TRACKING_USERNAME": "carol", "MODELYARD_USER": "dave"})
    assert (s.client.tracking_username, s.client.user) == ("carol", "dave")


# -- error mapping -------------------------------------------------------------------------------
def _answering(status: int, body: bytes, content_type: str = "application/json") -> RestTrackingStore:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    return RestTrackingStore(
        "http://tracking.test", Settings.defaults(http_request_max_retries=0), transport=httpx.MockTransport(handler)
    )


def test_errors_keep_their_class_over_http(store: RestTrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExist, match="not found") as caught:
        store.get_run("0" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(InvalidParameterValue, match="Invalid filter"):
        store.search_runs(["0"], "metrics.a >> 1")


def test_non_json_errors_map_by_status() -> None:
    with pytest.raises(PermissionDenied, match="Invalid Host header"):
        _answering(403, b"Invalid Host header", "text/plain").get_run("r")
    with pytest.raises(EndpointNotFound):
        _answering(404, b"<html>no</html>", "text/html").get_run("r")
    with pytest.raises(ModelyardError, match="HTTP 500") as caught:
        _answering(500, b"oops", "text/plain").get_run("r")
    assert caught.value.error_code == "INTERNAL_ERROR"
    with pytest.raises(ModelyardError, match="not a JSON object"):
        _answering(200, b"<html>a proxy login page</html>", "text/html").get_run("r")


def test_get_experiment_by_name_missing_endpoint_is_not_none() -> None:
    with pytest.raises(EndpointNotFound):
        _answering(404, b"not here", "text/plain").get_experiment_by_name("x")


def test_metric_history_without_max_results_follows_pages(store: RestTrackingStore) -> None:
    run_id = store.create_run("0", "u", 0).info.run_id
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(1000)])
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(1000, 1500)])
    page = store.get_metric_history(run_id, "m")
    assert len(page) == 1500 and page.token is None
    assert [m.step for m in page] == list(range(1500))


def test_bulk_queries_over_rest(store: RestTrackingStore) -> None:
    a = store.create_run("0", "u", 0).info.run_id
    b = store.create_run("0", "u", 0).info.run_id
    store.log_batch(a, metrics=[Metric("m", float(i), 10, i) for i in range(10)])
    store.log_batch(b, metrics=[Metric("m", 1.0, 10, 3)])
    sampled = store.get_metric_history_bulk_interval([a, b], "m", max_results=3)
    assert [(m.run_id, m.step) for m in sampled] == [(a, 0), (a, 3), (a, 4), (a, 9), (b, 3)]
    whole = store.get_metric_history_bulk([b, a], "m", max_results=4)
    expected = sorted([(a, i) for i in range(10)] + [(b, 3)])[:4]  # runs by id, then by step
    assert [(m.run_id, m.step) for m in whole] == expected


# -- clients over http:// ------------------------------------------------------------------------------
def test_tracking_client_over_http(live_server, fresh_backend) -> None:
    """``TrackingClient("http://...")`` picks the REST store; the rows land in the server's database."""
    client = TrackingClient(live_server.url, Settings.defaults())
    try:
        assert isinstance(client.store, RestTrackingStore)
        exp_id = client.create_experiment("via-client", tags={"k": "v"})
        run_id = client.create_run(exp_id, run_name="c").info.run_id
        client.log_metric(run_id, "m", 1.5, step=3)
        client.log_param(run_id, "p", 7)
        client.set_terminated(run_id)
        got = fresh_backend.get_run(run_id)
        assert (got.info.status, got.data.metrics, got.data.params) == ("FINISHED", {"m": 1.5}, {"p": "7"})
        assert [m.step for m in client.get_metric_history(run_id, "m")] == [3]
    finally:
        stores.clear_store_cache()


MLFLOW_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
mlflow.set_experiment("compat")
with mlflow.start_run(run_name="r1") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 0.5, step=1)
    mlflow.log_metrics({"acc": 0.9}, step=2)
    mlflow.set_tag("t", "v")
run_id = run.info.run_id
client.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(3)])
errors = []
for call in (lambda: client.log_param(run_id, "lr", "0.2"), lambda: client.get_run("0" * 32)):
    try:
        call()
    except MlflowException as exc:
        errors.append(exc.error_code)
got = client.get_run(run_id)
found = mlflow.search_runs(experiment_names=["compat"], filter_string="metrics.acc > 0.5")
print(json.dumps({
    "status": got.info.status,
    "metrics": got.data.metrics,
    "params": got.data.params,
    "tag": got.data.tags.get("t"),
    "history": [[m.step, m.value] for m in client.get_metric_history(run_id, "m")],
    "found": list(found["run_id"]),
    "errors": errors,
    "run_id": run_id,
}))
"""


@pytest.mark.slow
def test_real_mlflow_client_against_live_server(live_server, fresh_backend, tmp_path) -> None:
    """The official MLflow client (if installed) tracks a run through our server unchanged."""
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("mlflow is not installed")
    env = {k: val for k, val in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    out = subprocess.run(
        [sys.executable, "-c", MLFLOW_SCRIPT, live_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "status": "FINISHED",
        "metrics": {"loss": 0.5, "acc": 0.9, "m": 2.0},
        "params": {"lr": "0.1"},
        "tag": "v",
        "history": [[0, 0.0], [1, 1.0], [2, 2.0]],
        "found": [result["run_id"]],
        "errors": ["INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"],
        "run_id": result["run_id"],
    }
    assert fresh_backend.get_run(result["run_id"]).data.params == {"lr": "0.1"}


def test_values_json_cannot_carry_are_refused_before_sending() -> None:
    store, seen = _recording_store(Settings.defaults())
    with pytest.raises(InvalidParameterValue, match="JSON"):
        store.update_run_info("r", end_time=2**70)
    with pytest.raises(InvalidParameterValue):
        store.log_metric("r", Metric("m", True, 1, 0))  # type: ignore[arg-type]
    assert seen == []


def test_python_api_against_a_server_that_is_not_there_fails_at_once() -> None:
    import modelyard as my
    from modelyard.tracking import fluent

    port = _closed_port()
    my.set_tracking_uri(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TemporarilyUnavailable, match=f"Cannot connect to the tracking server at http://127.0.0.1:{port}"):
            my.search_experiments()
    finally:
        fluent.set_tracking_uri(None)
        stores.clear_store_cache()
