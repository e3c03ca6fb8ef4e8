"""The real mlflow 3 client against our server with authentication on: MLFLOW_TRACKING_USERNAME /
PASSWORD, MLFLOW_TRACKING_TOKEN, and ``mlflow.server.get_app_client("basic-auth")``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from modelyard.auth.config import AuthConfig
from modelyard.server.app import create_app
from modelyard.settings import Settings

ADMIN_PASSWORD = "compat-admin-secret-1"
MARK = "AUTH-RESULT:"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("auth-compat")
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        artifacts_destination=str(root / "artifacts"),
        serve_artifacts=True,
    )
    app = create_app(settings, auth=AuthConfig(enabled=True, admin_password=ADMIN_PASSWORD, cache_ttl=0.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def run_client(url: str, workdir: Path, body: str, **credentials: str):
    script = workdir / f"client_{abs(hash(body))}.py"
    script.write_text(
        "import json\nimport mlflow\nfrom mlflow import MlflowClient\nfrom mlflow.exceptions import MlflowException\n"
        f"def emit(obj):\n    print({MARK!r} + json.dumps(obj), flush=True)\n" + textwrap.dedent(body)
    )
    env = {k: os.environ[k] for k in ("PATH", "LANG", "TMPDIR") if k in os.environ}
    env.update(
        HOME=str(workdir),
        MLFLOW_TRACKING_URI=url,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        GIT_PYTHON_REFRESH="quiet",
        **credentials,
    )
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180)
    lines = [line[len(MARK) :] for line in out.stdout.splitlines() if line.startswith(MARK)]
    assert out.returncode == 0 and len(lines) == 1, out.stderr[-6000:]
    return json.loads(lines[0])


def test_get_app_client_manages_users_and_permissions(auth_server, tmp_path) -> None:
    result = run_client(
        auth_server,
        tmp_path,
        """
        from mlflow.server import get_app_client
        auth = get_app_client("basic-auth", tracking_uri=mlflow.get_tracking_uri())
        user = auth.create_user("bob", "tiger-long-secret-1")
        got = auth.get_user("bob")
        exp = MlflowClient().create_experiment("owned-by-admin")
        auth.grant_user_permission("bob", "experiment", exp, "READ")
        check = auth.get_user_permission("bob", "experiment", exp)
        auth.update_user_admin("bob", True)
        admin_now = auth.get_user("bob").is_admin
        auth.update_user_password("bob", "another-long-secret-22")
        try:
            auth.create_user("weak", "123")
            weak = None
        except MlflowException as exc:
            weak = exc.error_code
        auth.delete_user("bob")
        try:
            auth.get_user("bob")
            gone = None
        except MlflowException as exc:
            gone = exc.error_code
        emit({"user": [user.username, user.is_admin], "got": got.username, "check": [check.allowed, check.permission],
              "admin_now": admin_now, "weak": weak, "gone": gone})
    """,
        MLFLOW_TRACKING_USERNAME="admin",
        MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD,
    )
    assert result == {
        "user": ["bob", False],
        "got": "bob",
        "check": [False, "READ"],
        "admin_now": True,
        "weak": "INVALID_PARAMETER_VALUE",
        "gone": "RESOURCE_DOES_NOT_EXIST",
    }


def test_username_password_and_token_work_with_the_tracking_client(auth_server, tmp_path) -> None:
    admin = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
    setup = run_client(
        auth_server,
        tmp_path,
        """
        from mlflow.server import get_app_client
        from mlflow.utils.rest_utils import http_request
        from mlflow.utils.credentials import get_default_host_creds
        auth = get_app_client("basic-auth", tracking_uri=mlflow.get_tracking_uri())
        auth.create_user("carol", "river-long-secret-1")
        private = MlflowClient().create_experiment("private")
        auth.grant_user_permission("carol", "experiment", private, "NO_PERMISSIONS")
        emit({"private": private})
    """,
        **admin,
    )
    result = run_client(
        auth_server,
        tmp_path,
        """
        import os
        from mlflow.utils.rest_utils import http_request
        from mlflow.utils.credentials import get_default_host_creds
        mlflow.set_experiment("carol-exp")
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 1.5)
            mlflow.log_param("p", "v")
        creds = get_default_host_creds(mlflow.get_tracking_uri())
        r = http_request(creds, "/api/2.0/modelyard/tokens/create", "POST", json={"name": "ci", "scopes": "experiments:write"})
        secret = r.json()["secret"]
        try:
            MlflowClient().get_experiment(os.environ["PRIVATE"])
            denied = None
        except MlflowException as exc:
            denied = exc.error_code
        names = sorted(e.name for e in MlflowClient().search_experiments())
        emit({"run": run.info.run_id, "user": run.info.user_id, "secret": secret, "denied": denied, "names": names})
    """,
        MLFLOW_TRACKING_USERNAME="carol",
        MLFLOW_TRACKING_PASSWORD="river-long-secret-1",
        PRIVATE=setup["private"],
    )
    assert result["user"] == "carol" and result["denied"] == "PERMISSION_DENIED"
    assert "carol-exp" in result["names"] and "private" not in result["names"]  # no enumeration by search
    with_token = run_client(
        auth_server,
        tmp_path,
        """
        mlflow.set_experiment("carol-exp")
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 2.0)
        got = MlflowClient().get_run(run.info.run_id)
        emit({"user": got.info.user_id, "m": got.data.metrics["m"]})
    """,
        MLFLOW_TRACKING_TOKEN=result["secret"],
    )
    assert with_token == {"user": "carol", "m": 2.0}
    nobody = run_client(
        auth_server,
        tmp_path,
        """
        try:
            MlflowClient().search_experiments()
            code = None
        except MlflowException as exc:
            code = str(exc)
        emit({"error": code})
    """,
        MLFLOW_TRACKING_USERNAME="carol",
        MLFLOW_TRACKING_PASSWORD="wrong-password-123",
    )
    assert nobody["error"] == "UNAUTHENTICATED: Invalid credentials"
