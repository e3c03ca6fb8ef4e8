"""The registry through the fluent API and the client, on an embedded SQLite store: what a user
sees (register, alias, load ``models:/`` URIs, history), plus the client-only methods
(``copy_model_version``, tags by stage, a webhook test sent from the client)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.registry import delivery
from modelyard.registry.uris import parse_registry_uri


@pytest.fixture
def logged(tracking):
    """A fitted model logged in a run: (model_info, run, X)."""
    rng = np.random.default_rng(0)
    X = rng.random((30, 3))
    y = (X[:, 0] > 0.5).astype(int)
    with my.start_run() as run:
        info = my.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
    return info, run, X


def test_register_alias_load_and_history(logged, monkeypatch):
    info, run, X = logged
    monkeypatch.setenv("MODELYARD_USER", "ada")
    v1 = my.register_model(info.model_uri, "churn")
    v2 = my.register_model(f"runs:/{run.info.run_id}/model", "churn", tags={"k": "v"})
    assert (v1.version, v2.version, v1.model_id, v2.model_id) == ("1", "2", info.model_id, info.model_id)
    client = my.MlflowClient()
    client.set_registered_model_alias("churn", "champion", v1.version)
    client.set_registered_model_alias("churn", "champion", v2.version)
    client.transition_model_version_stage("churn", v1.version, "Production")
    expected = my.pyfunc.load_model(info.model_uri).predict(X[:4]).tolist()
    for uri in ("models:/churn@champion", "models:/churn/1", "models:/churn/Production", "models:/churn/latest"):
        assert my.pyfunc.load_model(uri).predict(X[:4]).tolist() == expected, uri
    history = client.get_alias_history("churn", "champion")
    assert [(e.action, e.user_id, e.from_version, e.to_version) for e in history] == [
        ("moved", "ada", "1", "2"),
        ("created", "ada", None, "1"),
    ]
    links = json.loads(client.store.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert links == [{"name": "churn", "version": "1"}, {"name": "churn", "version": "2"}]
    assert [v.version for v in client.get_logged_model_registrations(info.model_id)] == ["1", "2"]
    lineage = client.get_model_version_lineage("churn", 2)
    assert lineage["run"]["run_id"] == run.info.run_id and lineage["logged_model"]["model_id"] == info.model_id
    assert client.resolve_model_uri("models:/churn@champion") == client.get_model_version_download_uri("churn", 2)


def test_copy_model_version_and_tags_by_stage(logged):
    info, run, _ = logged
    client = my.MlflowClient()
    my.register_model(info.model_uri, "staging-model")
    client.set_registered_model_alias("staging-model", "candidate", 1)
    copied = client.copy_model_version("models:/staging-model@candidate", "prod-model")
    assert (copied.name, copied.version, copied.model_id, copied.run_id) == (
        "prod-model",
        "1",
        info.model_id,
        run.info.run_id,
    )
    assert copied.source == "models:/staging-model/1"
    assert client.get_model_version_download_uri("prod-model", 1) == client.get_model_version_download_uri(
        "staging-model", 1
    )
    client.transition_model_version_stage("prod-model", 1, "Staging")
    client.set_model_version_tag("prod-model", key="approved", value="yes", stage="Staging")
    assert client.get_model_version("prod-model", 1).tags == {"approved": "yes"}
    client.delete_model_version_tag("prod-model", key="approved", stage="staging")
    assert client.get_model_version("prod-model", 1).tags == {}
    with pytest.raises(InvalidParameterValue):
        client.set_model_version_tag("prod-model", 1, "k", "v", stage="Staging")
    with pytest.raises(ResourceDoesNotExist):
        my.pyfunc.load_model("models:/prod-model/Production")


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/churn/3", ("churn", "3", "")),
        ("models:/churn@champion", ("churn", "@champion", "")),
        ("models:/churn@champion/MLmodel", ("churn", "@champion", "MLmodel")),
        ("models:/my model/Production/sub/dir", ("my model", "Production", "sub/dir")),
        ("models:/a@b@c", ("a@b", "@c", "")),
    ],
)
def test_parse_registry_uri(uri, parsed):
    assert parse_registry_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["models:/", "models:/churn", "models://host/churn/1", "models:/churn/1/../x", "runs:/x/y"])
def test_parse_registry_uri_refuses(uri):
    with pytest.raises(InvalidParameterValue):
        parse_registry_uri(uri)


def test_webhook_test_from_an_embedded_client(tracking, monkeypatch):
    """Without a server, the client sends the test event itself (private targets need the setting)."""
    got: list[tuple[dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["content-length"])).decode()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        with pytest.raises(InvalidParameterValue, match="MODELYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS"):
            my.MlflowClient().create_webhook("local", url, ["model_version.created"])
        monkeypatch.setenv("MODELYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        from modelyard.tracking import stores

        stores.clear_store_cache()  # a new store picks the setting up
        client = my.MlflowClient()
        hook = client.create_webhook("local", url, ["model_version.created"], secret="s")
        result = client.test_webhook(hook.webhook_id)
        assert (result.success, result.response_status) == (True, 204)
        headers, body = got[0]
        assert delivery.verify_signature("s", headers, body)
        assert [d.status for d in client.list_webhook_deliveries(hook.webhook_id)] == ["SUCCEEDED"]
    finally:
        server.shutdown()
        server.server_close()
