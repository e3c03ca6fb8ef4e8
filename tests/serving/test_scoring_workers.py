"""``models serve --workers N``: the model loaded once in the parent, the workers forked from it by the
tracking server's supervisor (``modelyard.server.prefork``), ``/metrics`` adding up every worker.

Real processes on 127.0.0.1 port 0; which worker answered is read from the access log's ``pid``.
"""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import ServeProcess, ready, split_body, wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers need os.fork (Linux)")


def _children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:
        return set()


def _access_pids(server: ServeProcess, path: str = "/invocations") -> list[int]:
    pids = []
    for line in server.log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("path") == path and record.get("status") == 200:
                pids.append(record["pid"])
    return pids


def _post_until_both_answer(server: ServeProcess, body: dict, workers: set[int]) -> int:
    """Invocations on fresh connections, 8 at a time, until every worker answered one; how many were sent."""
    sent, logged = 0, len(_access_pids(server))

    def one(_):
        r = httpx.post(server.url + "/invocations", json=body, timeout=30)  # a new connection each
        assert r.status_code == 200, r.text
        return r

    with ThreadPoolExecutor(8) as pool:
        while set(_access_pids(server)) != workers:
            assert sent < 2000, (set(_access_pids(server)), workers)
            list(pool.map(one, range(8)))
            sent += 8
            # at least: the access line of a request sent before this call may land after ``logged`` was read
            wait_until(lambda n=logged + sent: len(_access_pids(server)) >= n, 10, "the access lines")
    return sent


def _invocations_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "modelyard_serving_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("endpoint") == "invocations":
                    total += sample.value
    return total


def _version_info(text: str) -> dict[str, float]:
    for family in text_string_to_metric_families(text):
        if family.name == "modelyard_serving_model_version_info":
            return {s.labels["version"]: s.value for s in family.samples}
    return {}


def test_forked_workers_answer_and_metrics_add_up(tmp_path, model_dir, estimators, data):
    server = ServeProcess(tmp_path, f"sqlite:///{tmp_path / 'none.db'}", "-m", str(model_dir), "--port", "0",
                          "--workers", "2")
    try:
        wait_until(lambda: len(_children(server.proc.pid)) == 2, 30, "two workers")
        wait_until(lambda: ready(server.url), 60, "the workers to answer")
        workers = _children(server.proc.pid)
        log = server.log.read_text()
        assert log.count("Serving model") == 1, log  # loaded once, in the parent, not once per worker
        body = split_body(data.head(3))
        want = estimators[0].predict(data.head(3)).tolist()
        assert httpx.post(server.url + "/invocations", json=body).json() == {"predictions": want}
        sent = 1 + _post_until_both_answer(server, body, workers)
        assert set(_access_pids(server)) == workers
        for _ in range(6):  # whichever worker answers /metrics counts the requests of both
            text = httpx.get(server.url + "/metrics").text
            assert _invocations_total(text) == sent
            assert set(_version_info(text).values()) == {1.0}
        metrics_pids = set(_access_pids(server, "/metrics"))
        assert metrics_pids <= workers
    finally:
        server.stop()
    assert server.proc.returncode == 0


def test_a_killed_worker_is_replaced_and_sigterm_stops_cleanly(tmp_path, model_dir, data):
    server = ServeProcess(tmp_path, f"sqlite:///{tmp_path / 'none.db'}", "-m", str(model_dir), "--port", "0",
                          "--workers", "2", "--no-access-log")
    try:
        wait_until(lambda: len(_children(server.proc.pid)) == 2, 30, "two workers")
        wait_until(lambda: ready(server.url), 60, "the workers to answer")
        before = _children(server.proc.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in _children(server.proc.pid) and len(_children(server.proc.pid)) == 2,
                   30, "a replacement worker")
        after = _children(server.proc.pid)
        assert victim not in after and len(after - before) == 1
        body = split_body(data.head(2))
        for _ in range(20):
            assert httpx.post(server.url + "/invocations", json=body, timeout=30).status_code == 200
        os.kill(server.proc.pid, signal.SIGTERM)  # the parent only: it passes SIGTERM on
        assert server.proc.wait(30) == 0
        wait_until(lambda: not any(os.path.exists(f"/proc/{p}") and _alive(p) for p in after), 10, "the workers")
        assert f"worker {victim} exited" in server.log.read_text()
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_every_forked_worker_follows_the_alias(tmp_path, registry, estimators, data):
    uri, client = registry
    server = ServeProcess(tmp_path, uri, "-m", "models:/churn@champion", "--port", "0", "--workers", "2",
                          "--poll-interval", "0.2")
    try:
        wait_until(lambda: len(_children(server.proc.pid)) == 2, 30, "two workers")
        wait_until(lambda: ready(server.url), 60, "the workers to answer")
        workers = _children(server.proc.pid)
        body = split_body(data.head(3))
        _post_until_both_answer(server, body, workers)
        # The parent forked with no thread of its own (registry follower, predict pool: in the workers);
        # pyarrow's jemalloc keeps a background thread, which jemalloc's own fork handlers look after.
        pid = server.proc.pid
        others = [t for t in os.listdir(f"/proc/{pid}/task") if t != str(pid)]
        names = [open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in others]
        assert set(names) <= {"jemalloc_bg_thd"}, names
        client.set_registered_model_alias("churn", "champion", 2)
        seen: dict[int, str] = {}

        def switched() -> bool:  # every worker answers with version 2 (fresh connections spread them)
            r = httpx.post(server.url + "/invocations", json=body, timeout=30)
            assert r.status_code == 200
            return r.headers["X-Modelyard-Model-Version"] == "churn/2"

        for _ in range(2):
            wait_until(switched, 60, "version 2")
        n_before = len(_access_pids(server))
        _post_until_both_answer_from(server, body, workers, n_before, seen)
        assert set(seen) == workers and set(seen.values()) == {"2"}, seen
        want = estimators[1].predict(data.head(3)).tolist()
        assert httpx.post(server.url + "/invocations", json=body).json() == {"predictions": want}
        text = httpx.get(server.url + "/metrics").text
        assert _version_info(text) == {"1": 0.0, "2": 1.0}  # no live worker answers with version 1
    finally:
        server.stop()
    assert server.proc.returncode == 0


def _post_until_both_answer_from(server, body, workers, skip: int, seen: dict[int, str]) -> None:
    """Requests until each worker answered one after the first ``skip`` access lines; the version each gave."""
    def one(_):
        assert httpx.post(server.url + "/invocations", json=body, timeout=30).status_code == 200

    with ThreadPoolExecutor(8) as pool:
        for _ in range(250):
            records = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
            records = [r for r in records if r.get("path") == "/invocations"][skip:]
            seen.update({r["pid"]: r["version"] for r in records})
            if set(seen) == workers:
                return
            list(pool.map(one, range(8)))
