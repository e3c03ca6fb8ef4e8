"""RestRegistryStore: the registry conformance suite over HTTP against a live uvicorn server, plus
what only REST has: the user a request is recorded under, and the fallback to MLflow's calls when
a server lacks modelyard's one-call resolution.

The conformance tests are the functions of ``tests/store/test_registry_conformance.py``, run here
with a ``store`` that is a RestTrackingStore on the live server, whose tracking and registry stores
are swapped to an empty SQLite database for each test.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.entities import RunTag
from modelyard.exceptions import EndpointNotFound
from modelyard.registry.runtime import swap_registry
from modelyard.registry.uris import resolve_registry_uri
from modelyard.settings import Settings
from modelyard.store.registry import registry_store_for
from modelyard.store.registry.rest import RestRegistryStore
from modelyard.store.tracking.rest import RestTrackingStore
from modelyard.tracking.client import TrackingClient

_PATH = Path(__file__).resolve().parents[1] / "store" / "test_registry_conformance.py"
_spec = importlib.util.spec_from_file_location("_rest_registry_conformance", _PATH)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module
_spec.loader.exec_module(_module)
# Tests of what only the SQL store has (its server fast path) stay in the SQL suite.
SQL_ONLY = {"test_server_fast_path_answers_exactly_what_the_entities_say"}
globals().update(
    {
        name: obj
        for name, obj in vars(_module).items()
        if (name.startswith("test_") and name not in SQL_ONLY) or type(obj).__name__ == "FixtureFunctionDefinition"
    }
)


@pytest.fixture
def store(live_server, fresh_backend) -> Iterator[RestTrackingStore]:
    """A REST tracking store; the server's tracking and registry use an empty database."""
    services = live_server.services
    previous = swap_registry(services, registry_store_for(fresh_backend, services.settings))
    rest = RestTrackingStore(live_server.url, Settings.defaults(http_request_max_retries=0, http_request_timeout=30))
    yield rest
    rest.close()
    swap_registry(services, previous)


def test_registry_of_a_rest_store_is_rest(store):
    registry = registry_store_for(store)
    assert isinstance(registry, RestRegistryStore) and registry_store_for(store) is registry


def test_request_user_wins_over_body_user(store, live_server):
    run = store.create_run("0", "ada", 0, [RunTag("k", "v")])
    registry = registry_store_for(store)
    registry.create_registered_model("churn", user_id="from-body")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert registry.get_registered_model("churn").user_id == "from-body"
    url = f"{live_server.url}/api/2.0/mlflow/registered-models/alias"
    body = {"name": "churn", "alias": "champion", "version": "1", "user_id": "from-body"}
    assert httpx.post(url, json=body, auth=("basic-user", "pw")).status_code == 200
    assert httpx.post(url, json={**body, "alias": "other"}).status_code == 200
    events = registry.get_promotion_history("churn")
    assert [(e.target, e.action, e.user_id) for e in events] == [
        ("other", "created", "from-body"),
        ("champion", "created", "basic-user"),
    ]


def test_delete_alias_records_header_user(store, live_server):
    run = store.create_run("0", "ada", 0)
    registry = registry_store_for(store)
    registry.create_registered_model("churn")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", 1, user_id="ada")
    response = httpx.request(
        "DELETE",
        f"{live_server.url}/api/2.0/mlflow/registered-models/alias",
        json={"name": "churn", "alias": "champion"},
        headers={"X-Modelyard-User": "header-user"},
    )
    assert response.status_code == 200
    assert [e.user_id for e in registry.get_promotion_history("churn")] == ["header-user", "ada"]


def test_resolution_falls_back_to_mlflow_calls(store, monkeypatch):
    run = store.create_run("0", "ada", 0)
    client = TrackingClient(store.uri)
    monkeypatch.setattr(TrackingClient, "store", property(lambda self: store))
    client.create_registered_model("churn")
    client.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.transition_model_version_stage("churn", 1, "Production")
    client.set_registered_model_alias("churn", "champion", 1)

    def no_endpoint(*_args):
        raise EndpointNotFound("No API endpoint at GET /api/2.0/mlflow/model-versions/resolve")

    monkeypatch.setattr(RestRegistryStore, "resolve_download_uri", no_endpoint)
    expected = run.info.artifact_uri + "/model"
    for uri in ("models:/churn/1", "models:/churn@champion", "models:/churn/Production", "models:/churn/latest"):
        assert resolve_registry_uri(uri, client) == expected
    assert resolve_registry_uri("models:/churn@champion/MLmodel", client) == expected + "/MLmodel"
