"""Webhooks: MLflow 3's API, SSRF refusals, and deliveries to a real receiver on 127.0.0.1 port 0:
signed as MLflow signs them, sent by the background worker (never inside the API call), retried
with backoff, logged per webhook, and the synchronous test call."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelyard.registry import delivery
from modelyard.server.app import create_app
from modelyard.server.services import Services
from modelyard.settings import Settings

API = "/api/2.0/mlflow"
SECRET = "whsec-test"
PUBLIC = "https://93.184.216.34/hook"


@dataclass
class Receiver:
    """An HTTP receiver: answers ``statuses`` in turn (then 200); can hold requests until released."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"got {len(self.requests)} of {count} deliveries"
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    state.release.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            state.requests.append((dict(self.headers.items()), body))
            state.arrived.set()
            state.release.wait(10)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"try later")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooks_api(tmp_path: Path, server_db_template: Path, make_api) -> Iterator:
    """The server in-process, letting webhooks call 127.0.0.1, retrying fast."""
    db_file = tmp_path / "server.db"
    shutil.copyfile(server_db_template, db_file)
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{db_file}",
        artifacts_destination=str(tmp_path / "artifacts"),
        webhook_allow_private_targets=True,
        webhook_retry_backoff=0.05,
        webhook_max_attempts=3,
        webhook_timeout=5.0,
    )
    services = Services.from_settings(settings)
    client = make_api(create_app(settings, services))
    yield client
    client.close()
    services.close()


def _webhook(api, url: str, events: list[tuple[str, str]], secret: str | None = SECRET) -> str:
    body = {"name": "ci", "url": url, "events": [{"entity": e, "action": a} for e, a in events], "secret": secret}
    response = api.post(f"{API}/webhooks", json=body)
    assert response.status_code == 200, response.text
    return response.json()["webhook"]["webhook_id"]


def _version(api) -> None:
    run = api.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    api.post(f"{API}/registered-models/create", json={"name": "churn"})
    created = api.post(f"{API}/model-versions/create", json={"name": "churn", "source": f"runs:/{run}/model", "run_id": run})
    assert created.status_code == 200, created.text


def _log(api, webhook_id: str, until=lambda log: True, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        log = api.get(f"{API}/webhooks/{webhook_id}/deliveries").json()["deliveries"]
        if until(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_webhook_api_wire_shapes(api):
    body = {
        "name": "ci",
        "description": "notify CI",
        "url": PUBLIC,
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
        "secret": "s",
        "status": "ACTIVE",
    }
    created = api.post(f"{API}/webhooks", json=body).json()["webhook"]
    assert set(created) == {
        "webhook_id",
        "name",
        "description",
        "url",
        "events",
        "status",
        "creation_timestamp",
        "last_updated_timestamp",
    }
    hook_id = created["webhook_id"]
    assert api.get(f"{API}/webhooks").json()["webhooks"] == [created]
    assert api.get(f"{API}/webhooks/{hook_id}").json()["webhook"] == created
    patched = api.request("PATCH", f"{API}/webhooks/{hook_id}", json={"status": "DISABLED", "name": "ci2"})
    assert (patched.json()["webhook"]["status"], patched.json()["webhook"]["name"]) == ("DISABLED", "ci2")
    bad = api.post(f"{API}/webhooks", json={**body, "events": [{"entity": "PROMPT", "action": "EXCEEDED"}]})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert api.request("DELETE", f"{API}/webhooks/{hook_id}").json() == {}
    assert api.get(f"{API}/webhooks/{hook_id}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1/x",
    ],
)
def test_private_targets_are_refused_by_default(api, url):
    """CVE-2026-2393: webhooks must not reach the server's network neighbourhood."""
    body = {"name": "x", "url": url, "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    response = api.post(f"{API}/webhooks", json=body)
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert api.get(f"{API}/webhooks").json()["webhooks"] == []


def test_delivery_is_signed_as_mlflow_signs(hooks_api, receiver):
    hook_id = _webhook(hooks_api, receiver.url, [("MODEL_VERSION", "CREATED")])
    _version(hooks_api)
    receiver.wait_for(1)
    headers, body = receiver.requests[0]
    assert delivery.verify_signature(SECRET, headers, body)
    signed = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.{body}"
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()).decode()
    assert headers["X-MLflow-Signature"] == f"v1,{expected}"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert (payload["entity"], payload["action"]) == ("model_version", "created")
    assert payload["data"]["name"] == "churn" and payload["data"]["version"] == "1"
    log = _log(hooks_api, hook_id, lambda log: log and log[0]["status"] == "SUCCEEDED")
    assert [(d["event"], d["status"], d["attempts"], d["response_status"]) for d in log] == [
        ("model_version.created", "SUCCEEDED", 1, 200)
    ]
    assert log[0]["delivery_id"] == headers["X-MLflow-Delivery-Id"]
    assert not delivery.verify_signature("wrong-secret", headers, body)


def test_api_call_never_waits_for_the_receiver(hooks_api, receiver):
    receiver.release.clear()  # the receiver holds every request until released
    hook_id = _webhook(hooks_api, receiver.url, [("MODEL_VERSION", "CREATED")])
    _version(hooks_api)  # returns although the receiver has not answered
    assert receiver.arrived.wait(10)
    assert _log(hooks_api, hook_id)[0]["status"] == "IN_FLIGHT"
    receiver.release.set()
    assert _log(hooks_api, hook_id, lambda log: log[0]["status"] == "SUCCEEDED")[0]["status"] == "SUCCEEDED"


def test_failed_attempts_are_retried_with_backoff_same_delivery_id(hooks_api, receiver):
    receiver.statuses = [503, 500]
    hook_id = _webhook(hooks_api, receiver.url, [("MODEL_VERSION_ALIAS", "CREATED")])
    _version(hooks_api)
    hooks_api.post(f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion", "version": "1"})
    log = _log(hooks_api, hook_id, lambda log: log and log[0]["status"] == "SUCCEEDED")
    assert [(d["status"], d["attempts"]) for d in log] == [("SUCCEEDED", 3)]
    ids = {h["X-MLflow-Delivery-Id"] for h, _ in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert json.loads(receiver.requests[0][1])["data"] == {
        "name": "churn",
        "alias": "champion",
        "version": "1",
        "previous_version": None,
    }


def test_delivery_fails_after_max_attempts_or_on_a_permanent_error(hooks_api, receiver):
    receiver.statuses = [500, 502, 503, 400]
    hook_id = _webhook(hooks_api, receiver.url, [("MODEL_VERSION", "STAGE_TRANSITIONED")], secret=None)
    _version(hooks_api)
    move = {"name": "churn", "version": "1", "stage": "Production", "archive_existing_versions": False}
    hooks_api.post(f"{API}/model-versions/transition-stage", json=move)
    log = _log(hooks_api, hook_id, lambda log: log and log[0]["status"] == "FAILED")
    assert [(d["status"], d["attempts"], d["response_status"]) for d in log] == [("FAILED", 3, 503)]
    assert "X-MLflow-Signature" not in receiver.requests[0][0]  # no secret, no signature
    assert json.loads(receiver.requests[0][1])["data"]["to_stage"] == "Production"
    hooks_api.post(f"{API}/model-versions/transition-stage", json={**move, "stage": "Staging"})
    log = _log(hooks_api, hook_id, lambda log: len(log) == 2 and log[0]["status"] == "FAILED")
    assert (log[0]["attempts"], log[0]["response_status"]) == (1, 400)  # 4xx: not retried


def test_test_call_sends_an_example_at_once_and_logs_it(hooks_api, receiver):
    hook_id = _webhook(hooks_api, receiver.url, [("MODEL_VERSION", "CREATED")])
    result = hooks_api.post(f"{API}/webhooks/{hook_id}/test", json={}).json()["result"]
    assert result == {"success": True, "response_status": 200, "response_body": "ok"}
    headers, body = receiver.requests[0]
    assert delivery.verify_signature(SECRET, headers, body)
    assert json.loads(body)["data"]["name"] == "example_model"
    receiver.statuses = [500]
    event = {"event": {"entity": "MODEL_VERSION_TAG", "action": "SET"}}
    failed = hooks_api.post(f"{API}/webhooks/{hook_id}/test", json=event).json()["result"]
    assert (failed["success"], failed["response_status"]) == (False, 500)
    log = _log(hooks_api, hook_id)
    assert [(d["event"], d["status"], d["is_test"]) for d in log] == [
        ("model_version_tag.set", "FAILED", True),
        ("model_version.created", "SUCCEEDED", True),
    ]


def test_a_target_is_checked_again_at_delivery(receiver):
    """A webhook saved while private targets were allowed is not called once they are not."""
    strict = Settings.defaults(webhook_allow_private_targets=False)
    outcome = delivery.send(receiver.url, "{}", "d1", SECRET, strict)
    assert not outcome.success and not outcome.retryable and "Target refused" in outcome.error_message
    assert receiver.requests == []
    unreachable = delivery.send("http://127.0.0.1:9/x", "{}", "d2", None, Settings.defaults(webhook_allow_private_targets=True, webhook_timeout=2))
    assert not unreachable.success and unreachable.retryable


def test_two_workers_never_claim_the_same_delivery(hooks_api):
    services = hooks_api.app.state.services
    services.webhooks.stop()  # claim by hand
    registry = services.registry.store
    hook = registry.create_webhook("ci", PUBLIC, ["registered_model.created"])
    for i in range(5):
        registry.create_registered_model(f"m{i}")
    first = registry.claim_webhook_deliveries(3, 60_000)
    second = registry.claim_webhook_deliveries(10, 60_000)
    assert len(first) == 3 and len(second) == 2
    assert not {c["delivery_id"] for c in first} & {c["delivery_id"] for c in second}
    assert registry.claim_webhook_deliveries(10, 60_000) == []
    assert {c["public_webhook_id"] for c in first} == {hook.webhook_id}
