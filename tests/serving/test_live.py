"""Real servers: uvicorn in a thread on port 0, and ``modelyard models serve`` as a process (2 workers),
including the 60-second load at concurrency 32 with an alias switch in the middle: 0 failed requests.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from serving_helpers import ServeProcess, ready, split_body, wait_until

from modelyard.cli.main import cli

LOAD_SECONDS = 60
CONCURRENCY = 32


def test_a_live_server_answers_over_http(live, model_dir, estimators, data):
    url, service = live(str(model_dir), max_body_bytes=4096)
    with httpx.Client(base_url=url) as client:
        assert client.get("/ping").status_code == 200
        for n in (1, 5, 20):
            r = client.post("/invocations", json=split_body(data.head(n)))
            assert r.json() == {"predictions": estimators[0].predict(data.head(n)).tolist()}
        big = client.post("/invocations", json=split_body(data))
        assert big.status_code == 413
        assert client.get("/ping").status_code == 200


def test_models_serve_help_lists_the_flags():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["models", "serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--model-uri", "--host", "--port", "--workers", "--timeout", "--inference-log", "--webhook-secret"):
        assert flag in result.output


def test_models_serve_refuses_two_models_with_one_name(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["models", "serve", "-m", "a=/x", "-m", "a=/y", "--port", "0"])
    assert result.exit_code == 1
    assert "share the name 'a'" in result.output


@pytest.mark.slow
def test_alias_switch_under_load_fails_no_request(tmp_path, registry, estimators, data):
    """60 s at concurrency 32 against 2 workers; the alias moves at 30 s. Every request must succeed,
    every answer must be the one of the version its header names, and both versions must answer."""
    uri, client = registry
    server = ServeProcess(
        tmp_path, uri, "-m", "models:/churn@champion", "--port", "0", "--workers", "2",
        "--poll-interval", "0.5", "--no-access-log",
    )
    try:
        wait_until(lambda: ready(server.url), 60, "the workers to load the model")
        bodies = [split_body(data.iloc[i : i + 1 + i % 4]) for i in range(40)]
        want = {
            version: [est.predict(data.iloc[i : i + 1 + i % 4]).tolist() for i in range(40)]
            for version, est in (("churn/1", estimators[0]), ("churn/2", estimators[1]))
        }
        results = asyncio.run(_load(server.url, bodies, client))
    finally:
        server.stop()
    failures = [r for r in results if r[1] != 200]
    assert failures == [], failures[:5]
    wrong = [r for r in results if r[3] != want[r[2]][r[0]]]
    assert wrong == [], wrong[:5]  # no answer from a half-loaded model or under the wrong version name
    versions = [r[2] for r in results]
    assert versions[0] == "churn/1" and "churn/2" in versions
    switch_at = versions.index("churn/2")
    assert set(versions[:switch_at]) == {"churn/1"}
    # both workers switched long before the end: every request of the last 10 s (20 s after the
    # switch, with a 0.5 s poll) is answered by version 2, however few a loaded machine completes
    late = [r[2] for r in results if r[4] > LOAD_SECONDS - 10]
    assert late and set(late) == {"churn/2"}
    assert len(results) > 1000


async def _load(url: str, bodies: list[dict], client) -> list[tuple[int, int | str, str, list, float]]:
    """(body index, status or error, version header, predictions, seconds since the start at the
    answer) of every request, in finishing order."""
    results: list = []
    start = time.monotonic()
    deadline = start + LOAD_SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def worker(k: int) -> None:
            i = k
            while time.monotonic() < deadline:
                index = i % len(bodies)
                try:
                    r = await http.post("/invocations", json=bodies[index])
                    results.append((index, r.status_code, r.headers.get("x-modelyard-model-version"),
                                    r.json().get("predictions"), time.monotonic() - start))
                except Exception as exc:  # noqa: BLE001 - any failure is counted
                    results.append((index, f"{type(exc).__name__}: {exc}", None, None, time.monotonic() - start))
                i += CONCURRENCY

        async def switch() -> None:
            await asyncio.sleep(LOAD_SECONDS / 2)
            await asyncio.to_thread(client.set_registered_model_alias, "churn", "champion", 2)

        await asyncio.gather(switch(), *(worker(k) for k in range(CONCURRENCY)))
    return results
