"""A failed run notifies its on_failure URLs with a signed webhook (the registry's signing and
target check: a private address such as this test's receiver needs webhook_allow_private_targets)."""

import http.server
import json
import queue
import threading

import pytest
from jobhelpers import Env, task

from modelyard.registry.delivery import verify_signature


@pytest.fixture
def receiver():
    got = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            got.put((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_a_failed_run_sends_a_signed_notification(tmp_path, receiver, name):
    url, got = receiver
    env = Env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, settings={"webhook_allow_private_targets": True})
    try:
        env.jobs.deploy(env.ctx, {"name": name, "notify": {"on_failure": [url], "secret": "k3y"},
                                  "tasks": [task("bad", "jobtasks:always_fail")]})
        run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
        headers, body = got.get(timeout=30)
        assert verify_signature("k3y", headers, body)
        payload = json.loads(body)
        assert payload["entity"] == "job_run" and payload["action"] == "failed"
        assert payload["data"] == {"job": name, "job_run_id": run.job_run_id, "status": "FAILED",
                                   "trigger": "manual", "failed_tasks": ["bad"]}
    finally:
        env.close()
