"""What ``modelyard server`` imports before its schema check starts and before a worker answers.

The check child is forked once SQLAlchemy and the driver are imported, before the web app's modules
(``modelyard.server`` gives ``create_app`` only when asked for it); the workers' parent does not load
pyarrow, which only the feature tables' data endpoints use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelyard.server import backend
from modelyard.settings import Settings


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_schema_check_needs_no_web_app_module() -> None:
    out = _run(
        "import sys\n"
        "from modelyard.cli.server import preload_database\n"
        "from modelyard.server import prefork\n"
        "from modelyard.settings import Settings\n"
        "preload_database(Settings.from_env({}).replace(backend_store_uri='sqlite:///x.db'))\n"
        "print(sorted(m for m in ('modelyard.server.app', 'modelyard.server.services', 'starlette', 'uvicorn')"
        " if m in sys.modules))\n"
        "from modelyard.server import create_app\n"
        "print(create_app.__module__)\n"
    )
    assert out.splitlines() == ["[]", "modelyard.server.app"]


def test_the_workers_parent_does_not_load_pyarrow() -> None:
    out = _run(
        "import sys\n"
        "from modelyard.cli.server import preload_app\n"
        "from modelyard.settings import Settings\n"
        "preload_app(Settings.from_env({}))\n"
        "print('pyarrow' in sys.modules, 'modelyard.server.routes.features' in sys.modules)\n"
    )
    assert out == "False True"


def test_the_proxy_scheme_is_the_artifact_services() -> None:
    from modelyard.artifacts.service import PROXY_SCHEME

    assert backend.PROXY_SCHEME == PROXY_SCHEME


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"default_artifact_root": "s3://bucket/root"}, "s3://bucket/root"),  # the flag wins
        ({"serve_artifacts": True}, "mlflow-artifacts:"),  # proxied
        ({"serve_artifacts": False, "artifacts_destination": "/data/artifacts"}, "/data/artifacts"),
    ],
)
def test_the_artifact_root_of_new_experiments(overrides: dict, expected: str) -> None:
    assert backend.default_artifact_root(Settings.from_env({}).replace(**overrides)) == expected


def test_an_http_backend_uri_is_refused_before_anything_is_opened() -> None:
    from modelyard.exceptions import InvalidParameterValue

    settings = Settings.from_env({}).replace(backend_store_uri="http://127.0.0.1:5000")
    with pytest.raises(InvalidParameterValue, match="is a tracking server, not a backend store URI"):
        backend.open_tracking_store(settings)
