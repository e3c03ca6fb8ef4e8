"""The same authorization requests against MLflow 3.17's basic-auth server (the peer) and ours:
for every grant level the peer accepts, each request is allowed or refused alike (2xx vs 401/403),
and requests without or with wrong credentials get 401 on both."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from modelyard.auth.config import AuthConfig
from modelyard.server.app import create_app
from modelyard.settings import Settings

ADMIN_PASSWORD = "parity-admin-secret-1"
USER_PASSWORD = "parity-user-secret-22"
API = "/api/2.0/mlflow"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ADMIN, USER = _basic("admin", ADMIN_PASSWORD), _basic("carl", USER_PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """MLflow's basic-auth server in a subprocess (one worker), on a free port."""
    root = tmp_path_factory.mktemp("mlflow-auth-peer")
    ini = root / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\nadmin_username = admin\nadmin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))}
    env.update(
        MLFLOW_AUTH_CONFIG_PATH=str(ini),
        MLFLOW_FLASK_SERVER_SECRET_KEY="parity-secret",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
    )
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen(
        [
            mlflow,
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("MLflow's basic-auth server did not start", pytrace=False)
        time.sleep(1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """Our server with authentication on, under uvicorn in a thread (127.0.0.1, port 0)."""
    root = tmp_path_factory.mktemp("ours-auth-peer")
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{root / 'server.db'}", artifacts_destination=str(root / "a")
    )
    app = create_app(settings, auth=AuthConfig(enabled=True, admin_password=ADMIN_PASSWORD))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "our server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60)


def _matrix(client: httpx.Client, level: str) -> dict[str, int]:
    """Make an experiment and run as admin, grant ``level`` to carl, and try each request as carl."""

    def ok(r: httpx.Response) -> dict:
        assert r.status_code == 200, r.text
        return r.json()

    exp = ok(client.post(f"{API}/experiments/create", json={"name": f"parity-{level}"}, headers=ADMIN))[
        "experiment_id"
    ]
    run = ok(client.post(f"{API}/runs/create", json={"experiment_id": exp}, headers=ADMIN))["run"]["info"][
        "run_id"
    ]
    ok(
        client.post(
            "/api/3.0/mlflow/users/permissions/grant",
            headers=ADMIN,
            json={"username": "carl", "resource_type": "experiment", "resource_id": exp, "permission": level},
        )
    )
    requests = {
        "get experiment": ("GET", "/experiments/get", {"experiment_id": exp}),
        "get run": ("GET", "/runs/get", {"run_id": run}),
        "search runs": ("POST", "/runs/search", {"experiment_ids": [exp]}),
        "log metric": ("POST", "/runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 1}),
        "set tag": ("POST", "/runs/set-tag", {"run_id": run, "key": "k", "value": "v"}),
        "create run": ("POST", "/runs/create", {"experiment_id": exp}),
        "rename experiment": (
            "POST",
            "/experiments/update",
            {"experiment_id": exp, "new_name": f"p2-{level}"},
        ),
        "delete run": ("POST", "/runs/delete", {"run_id": run}),
        "delete experiment": ("POST", "/experiments/delete", {"experiment_id": exp}),
    }
    out = {}
    for what, (method, path, data) in requests.items():
        kw = {"params": data} if method == "GET" else {"json": data}
        out[what] = client.request(method, f"{API}{path}", headers=USER, **kw).status_code
    out["anonymous"] = client.get(f"{API}/experiments/get", params={"experiment_id": exp}).status_code
    out["wrong password"] = client.get(
        f"{API}/experiments/get", params={"experiment_id": exp}, headers=_basic("carl", "not-the-password-1")
    ).status_code
    return out


def _allowed(status: int) -> str:
    return (
        "allowed"
        if status < 400
        else ("unauthenticated" if status == 401 else "denied" if status == 403 else str(status))
    )


@pytest.mark.slow
def test_same_authorization_answers_as_mlflow_basic_auth(peer, ours) -> None:
    answers = {}
    for name, target in (("mlflow", peer), ("modelyard", ours)):
        with _client(target) as client:
            r = client.post(
                f"{API}/users/create", json={"username": "carl", "password": USER_PASSWORD}, headers=ADMIN
            )
            assert r.status_code == 200, (name, r.text)
            answers[name] = {
                level: {k: _allowed(v) for k, v in _matrix(client, level).items()}
                for level in ("READ", "EDIT", "MANAGE")
            }
    assert answers["modelyard"] == answers["mlflow"]
