"""The tracking server's HTTP limits against a real uvicorn on 127.0.0.1 port 0, with raw sockets:
a 1 MB header, 100,000 headers, a 64 KiB query value, a silent connection, a slowloris dribble and
one connection too many are each refused (MLflow's JSON error where an answer is possible), and
ordinary requests (keep-alive included) still work. ``modelyard server`` takes the limits from the
settings (checked on the command itself, through its environment variables)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import http_checks as hc
import pytest

from modelyard.settings import Settings
from modelyard.web.http_limits import HttpLimits, limits_of

ROOT = Path(__file__).resolve().parents[2]
QUERY = "/api/2.0/mlflow/experiments/get-by-name"


@pytest.fixture(scope="module")
def limited(tmp_path_factory, serve_app):
    """The app under small limits (1 s header timeout, 3 connections) in a uvicorn thread."""
    root = tmp_path_factory.mktemp("limits")
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
        artifacts_destination=str(root / "artifacts"),
        header_timeout=1.0,
        max_connections=3,
    )
    with serve_app(settings) as live:
        yield int(live.url.rsplit(":", 1)[1])


def test_ordinary_requests_and_keep_alive_still_work(limited):
    status, _headers, body = hc.request(limited, hc.get("/health"))
    assert (status, body) == (200, b"OK")
    hc.keep_alive_works(limited, "/health")
    hc.pipelined_works(limited, "/health")
    status, error = hc.json_error(hc.request(limited, hc.get(f"{QUERY}?experiment_name=nope")))
    assert (status, error["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_a_one_megabyte_header_is_refused_with_431_json(limited):
    status, error = hc.giant_header(limited, "/health")
    assert status == 431 and error["error_code"] == "BAD_REQUEST"
    assert "65536 bytes" in error["message"]


def test_a_hundred_thousand_headers_are_refused(limited):
    status, error = hc.many_headers(limited, "/health")
    assert status == 431 and error["error_code"] == "BAD_REQUEST"
    status, error = hc.many_headers(limited, "/health", count=101)  # small, but too many
    assert status == 431 and "more than 100 headers" in error["message"]
    status, _h, _b = hc.request(limited, hc.get("/health", *(b"X-H%d: 1\r\n" % i for i in range(90))))
    assert status == 200


def test_a_64_kib_query_value_is_a_json_error(limited):
    status, error = hc.long_query(limited, QUERY, "experiment_name")
    assert status == 414 and error["error_code"] == "BAD_REQUEST"


def test_malformed_requests_are_json_400s(limited):
    status, error = hc.json_error(hc.request(limited, b"NOT HTTP AT ALL\x00\r\n\r\n"))
    assert status == 400 and error == {"error_code": "BAD_REQUEST", "message": "Invalid HTTP request received."}


def test_silent_and_dribbling_connections_are_closed(limited):
    assert hc.silent_connection_closed(limited) < hc.GENEROUS_S
    took, answer = hc.dribbled_headers(limited, "/health")
    assert took < hc.GENEROUS_S
    status, error = hc.json_error(hc.parse(answer))
    assert status == 408 and "within 1 s" in error["message"]


def test_connections_past_the_cap_are_refused_with_503_json(limited):
    held = [hc.connect(limited) for _ in range(3)]
    try:
        time.sleep(0.2)  # the server has accepted them
        status, error = hc.json_error(hc.parse(hc.read_until_closed(hc.connect(limited))))
        assert status == 503 and error["error_code"] == "TEMPORARILY_UNAVAILABLE"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + hc.GENEROUS_S
    while True:  # once they are gone, new connections are served again
        status, _h, _b = hc.request(limited, hc.get("/health"))
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def test_settings_name_the_limits_with_documented_defaults():
    s = Settings.defaults()
    assert limits_of(s.server) == HttpLimits()
    env = {"MODELYARD_HEADER_TIMEOUT": "2.5", "MODELYARD_SERVE_MAX_HEADERS": "7", "MODELYARD_MAX_CONNECTIONS": "9"}
    s = Settings.from_env(env)
    assert limits_of(s.server).header_timeout == 2.5 and limits_of(s.server).max_connections == 9
    assert limits_of(s.serving).max_headers == 7 and limits_of(s.server).max_headers == 100


def test_the_server_command_applies_the_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(PYTHONPATH=str(ROOT), MODELYARD_HEADER_TIMEOUT="1", MODELYARD_MAX_HEADERS="5")
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "modelyard.cli.main", "server", "--port", "0",
           "--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}", "--artifacts-destination", str(tmp_path / "a")]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = int(found.group(1))
        while True:  # announced before uvicorn listens
            try:
                hc.connect(port).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        status, error = hc.many_headers(port, "/health", count=6)
        assert status == 431 and "more than 5 headers" in error["message"]
        assert hc.silent_connection_closed(port) < hc.GENEROUS_S
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_the_limits_reach_spawned_workers_with_the_config():
    """uvicorn pickles its Config to spawned workers (``--workers N`` off Linux, the scoring server's
    workers): the limits and the protocol travel with it."""
    import pickle

    from modelyard.web.http_limits import LIMITS_ATTR, PROTOCOL, server_config

    limits = HttpLimits(max_headers=7, header_timeout=3.0)
    config = pickle.loads(pickle.dumps(server_config("modelyard.server.app:create_app", limits, port=0)))
    assert getattr(config, LIMITS_ATTR) == limits and config.http == PROTOCOL
    assert config.timeout_keep_alive == limits.keep_alive_timeout and config.backlog == limits.backlog
