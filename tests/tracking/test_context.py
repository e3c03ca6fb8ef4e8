"""The client context: explicit settings and URI, scoped contexts, caches keyed on credentials."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import modelyard
from modelyard.exceptions import ResourceDoesNotExist
from modelyard.settings import Settings, connection_key
from modelyard.tracking import context, stores
from modelyard.tracking.client import TrackingClient


@pytest.fixture
def recording_server():
    """A tiny HTTP server answering every request 404 RESOURCE_DOES_NOT_EXIST, recording the
    Authorization header of each."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()
    thread.join()
    stores.clear_store_cache()


def test_two_clients_with_other_tokens_get_their_own_store_and_token(recording_server):
    url, seen = recording_server
    alice = TrackingClient(url, Settings.defaults(tracking_token="alice-token", http_request_max_retries=0))
    bob = TrackingClient(url, Settings.defaults(tracking_token="bob-token", http_request_max_retries=0))
    assert alice.store is not bob.store
    assert alice.get_experiment_by_name("x") is None
    assert bob.get_experiment_by_name("x") is None
    assert seen == ["Bearer alice-token", "Bearer bob-token"]
    again = TrackingClient(url, Settings.defaults(tracking_token="alice-token", http_request_max_retries=0))
    assert again.store is alice.store  # same identity: the cached store is shared


def test_connection_key_covers_credentials_and_artifact_root_but_hides_secrets():
    base = connection_key("http://h", Settings.defaults(tracking_username="u", tracking_password="pw"))
    assert "pw" not in base
    assert base != connection_key("http://h", Settings.defaults(tracking_username="u", tracking_password="other"))
    assert base != connection_key("http://h", Settings.defaults(tracking_username="v", tracking_password="pw"))
    assert base != connection_key(
        "http://h", Settings.defaults(tracking_username="u", tracking_password="pw", default_artifact_root="/a")
    )
    assert base == connection_key("http://h", Settings.defaults(tracking_username="u", tracking_password="pw"))


def test_a_scoped_context_tracks_elsewhere_without_touching_the_process_one(tracking, tmp_path):
    other_uri = f"sqlite:///{tmp_path / 'other.db'}"
    scoped = context.ClientContext(Settings.defaults(default_artifact_root=str(tmp_path / "a2")), other_uri)
    with context.use(scoped):
        assert modelyard.get_tracking_uri() == other_uri
        with modelyard.start_run() as run:
            modelyard.log_metric("m", 1.0)
        exp = modelyard.set_experiment("scoped-only")
    assert modelyard.get_tracking_uri() == tracking
    assert modelyard.get_experiment_by_name("scoped-only") is None
    assert TrackingClient(other_uri, scoped.settings).get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert scoped.experiment_id() == exp.experiment_id
    scoped.close()


def test_the_process_context_follows_the_environment(tracking, monkeypatch):
    monkeypatch.setenv("MODELYARD_USER", "ada")
    assert context.current().settings.client.user == "ada"
    assert modelyard.get_tracking_uri() == tracking  # set_tracking_uri survives the rebuild
    monkeypatch.setenv("MODELYARD_USER", "grace")
    with modelyard.start_run() as run:
        pass
    assert modelyard.get_run(run.info.run_id).data.tags["mlflow.user"] == "grace"


def test_log_model_takes_a_context(tracking, tmp_path):
    from modelyard.models.log import log_model

    scoped = context.ClientContext(
        Settings.defaults(default_artifact_root=str(tmp_path / "a3")), f"sqlite:///{tmp_path / 'models.db'}"
    )

    def save(folder, model):
        folder.mkdir(parents=True)
        model.save(folder / "MLmodel")
        return model

    info = log_model(save, name="m", context=scoped)
    assert scoped.store().get_logged_model(info.model_id).name == "m"
    with pytest.raises(ResourceDoesNotExist):  # the process context's store never saw it
        context.current().store().get_logged_model(info.model_id)
    scoped.close()
