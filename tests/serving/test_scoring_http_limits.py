"""The scoring server's HTTP limits, on ``modelyard models serve`` itself (the settings reach it through
``MODELYARD_SERVE_*``), with raw sockets: a 1 MB header, 100,000 headers and a 64 KiB query value
are MLflow's JSON errors; silent and dribbling connections are closed; scoring still works."""

from __future__ import annotations

import http_checks as hc
import httpx
from serving_helpers import ready, split_body, wait_until
from test_live import ServeProcess

LIMITS = {"MODELYARD_SERVE_HEADER_TIMEOUT": "1", "MODELYARD_SERVE_MAX_HEADERS": "50"}


def test_the_scoring_server_refuses_hostile_heads(tmp_path, registry, data):
    uri, _client = registry
    server = ServeProcess(tmp_path, uri, "-m", "models:/churn/1", "--port", "0", "--no-access-log", env=LIMITS)
    try:
        # ready(): a refused connection (the socket not listening yet) is waited for, not raised
        wait_until(lambda: ready(server.url), 60, "the model to load")
        port = int(server.url.rsplit(":", 1)[1])
        assert httpx.post(server.url + "/invocations", json=split_body(data.head(3))).status_code == 200
        hc.keep_alive_works(port, "/health")

        status, error = hc.giant_header(port, "/ping")
        assert status == 431 and error["error_code"] == "BAD_REQUEST"
        status, error = hc.many_headers(port, "/ping")
        assert status == 431
        status, error = hc.many_headers(port, "/ping", count=51)
        assert status == 431 and "more than 50 headers" in error["message"]
        status, error = hc.long_query(port, "/ping", "q")
        assert status == 414 and error["error_code"] == "BAD_REQUEST"

        assert hc.silent_connection_closed(port) < hc.GENEROUS_S
        took, answer = hc.dribbled_headers(port, "/ping")
        assert took < hc.GENEROUS_S and hc.json_error(hc.parse(answer))[0] == 408
        assert httpx.post(server.url + "/invocations", json=split_body(data.head(2))).status_code == 200
    finally:
        server.stop()
