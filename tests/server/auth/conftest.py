"""An app with authentication on, in-process: ``auth_api`` (admin ``admin`` / ADMIN_PASSWORD) and
``as_user(name)`` headers; users are made through the API as a client would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from auth_helpers import ADMIN, ADMIN_PASSWORD, API, PASSWORD, basic  # type: ignore[import-not-found]

from modelyard.auth.config import AuthConfig
from modelyard.server.app import create_app
from modelyard.server.services import PROXY_SCHEME
from modelyard.settings import Settings
from modelyard.store.tracking.sql.store import SqlTrackingStore


@pytest.fixture(scope="session")
def auth_db_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth-template") / "template.db"
    SqlTrackingStore.from_uri(f"sqlite:///{path}", default_artifact_root=f"{PROXY_SCHEME}:").close()
    return path


def auth_settings(tmp_path: Path, template: Path) -> Settings:
    db_file = tmp_path / "server.db"
    shutil.copyfile(template, db_file)
    return Settings.defaults(
        backend_store_uri=f"sqlite:///{db_file}",
        artifacts_destination=str(tmp_path / "artifacts"),
        serve_artifacts=True,
    )


def auth_config(**overrides) -> AuthConfig:
    values = {"enabled": True, "admin_password": ADMIN_PASSWORD, "cache_ttl": 60.0}
    values.update(overrides)
    return AuthConfig(**values)


@pytest.fixture
def make_auth_api(tmp_path, auth_db_template, make_api):
    """``make_auth_api(**AuthConfig overrides)``: an app with auth on. Every app one test makes is on
    the same database, as the workers of one server are."""
    made = []
    shared: list[Settings] = []

    def make(**overrides):
        if not shared:
            shared.append(auth_settings(tmp_path, auth_db_template))
        app = create_app(shared[0], auth=auth_config(**overrides))
        api = make_api(app)
        made.append((api, app))
        return api

    yield make
    for api, app in made:
        api.close()
        app.state.services.close()


@pytest.fixture
def auth_api(make_auth_api):
    return make_auth_api()


@pytest.fixture
def users(auth_api):
    """``users("alice", "bob")``: make the accounts (password PASSWORD) and return their headers."""

    def make(*names: str) -> list[dict[str, str]]:
        for name in names:
            r = auth_api.post(
                f"{API}/users/create", json={"username": name, "password": PASSWORD}, headers=ADMIN
            )
            assert r.status_code == 200, r.text
        return [basic(name) for name in names]

    return make
