"""The hardening suite's fixture: the tracking server in-process on SQLite, PostgreSQL and MariaDB.

``db_api`` is one app per database kind for a whole test module (a database of the module's own
on the servers), so each class of hostile input is tried on every database the server runs on.
Tests name their objects uniquely (``unique``) instead of relying on an empty database.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from modelyard.server.app import create_app
from modelyard.server.services import Services
from modelyard.settings import Settings

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def backend_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('hardening') / 'server.db'}"
    else:
        yield request.getfixturevalue("module_postgres_uri" if request.param == "postgresql" else "module_mysql_uri")


@pytest.fixture(scope="module")
def db_api(backend_uri: str, tmp_path_factory: pytest.TempPathFactory, make_api) -> Iterator:
    """The server in-process on this module's database; ``.services``, ``.artifacts`` (its folder)."""
    artifacts = tmp_path_factory.mktemp("hardening-artifacts")
    settings = Settings.defaults(
        backend_store_uri=backend_uri, artifacts_destination=str(artifacts), serve_artifacts=True
    )
    services = Services.from_settings(settings)
    api = make_api(create_app(settings, services))
    api.services, api.artifacts = services, Path(artifacts)
    api.backend = backend_uri.split(":")[0].split("+")[0]  # sqlite, postgresql, mysql
    yield api
    api.close()
    services.close()
    shutil.rmtree(artifacts, ignore_errors=True)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def hx() -> SimpleNamespace:
    """The suite's helpers (test modules cannot import a conftest)."""
    return SimpleNamespace(API=API, experiment=experiment, run=run, assert_invalid=assert_invalid)


def experiment(api, name: str) -> str:
    r = api.post(f"{API}/experiments/create", json={"name": name})
    assert r.status_code == 200, r.text
    return r.json()["experiment_id"]


def run(api, experiment_id: str) -> str:
    r = api.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
    assert r.status_code == 200, r.text
    return r.json()["run"]["info"]["run_id"]


def assert_invalid(r, *mentions: str) -> None:
    """400 INVALID_PARAMETER_VALUE as JSON, naming what it refused."""
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    for word in mentions:
        assert word in body["message"], (word, body["message"])
