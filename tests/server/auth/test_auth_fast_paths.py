"""With authentication on, modelyard's fast routes (Arrow history, columnar search) allow and refuse
exactly what their standard twins allow and refuse, with the same status and error code."""

from __future__ import annotations

import pytest
from auth_helpers import ADMIN, API  # type: ignore[import-not-found]
from test_auth_permissions import LEVELS, experiment_with_run, grant  # type: ignore[import-not-found]

MODELYARD = "/api/2.0/modelyard"


def _pairs(exp: str, run: str):
    history = {"run_id": run, "metric_key": "m"}
    search = {"experiment_ids": [exp], "max_results": 10}
    return [
        ("GET", f"{API}/metrics/get-history", f"{MODELYARD}/metrics/history-arrow", history),
        ("POST", f"{API}/runs/search", f"{MODELYARD}/runs/search-columnar", search),
    ]


def _call(api, method: str, path: str, data: dict, headers: dict):
    kwargs = {"params": data} if method == "GET" else {"json": data}
    return api.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize("level", ["NO_PERMISSIONS", "READ"])
def test_fast_routes_allow_and_refuse_as_the_standard_ones(auth_api, users, level: str) -> None:
    (alice,) = users("alice")
    exp, run = experiment_with_run(auth_api)
    logged = auth_api.post(
        f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1}, headers=ADMIN
    )
    assert logged.status_code == 200, logged.text
    grant(auth_api, "experiment", exp, "alice", level)
    for method, standard, fast, data in _pairs(exp, run):
        want = _call(auth_api, method, standard, data, alice)
        got = _call(auth_api, method, fast, data, alice)
        assert got.status_code == want.status_code, (fast, level, got.text)
        if LEVELS.index(level) >= LEVELS.index("READ"):
            assert got.status_code == 200
        else:
            assert got.status_code == 403
            assert got.json()["error_code"] == want.json()["error_code"] == "PERMISSION_DENIED"


def test_fast_routes_refuse_anonymous_callers(auth_api) -> None:
    exp, run = experiment_with_run(auth_api)
    for method, standard, fast, data in _pairs(exp, run):
        want = _call(auth_api, method, standard, data, {})
        got = _call(auth_api, method, fast, data, {})
        assert got.status_code == want.status_code == 401
        assert got.json()["error_code"] == want.json()["error_code"]


@pytest.mark.parametrize("level", ["NO_PERMISSIONS", "READ", "EDIT"])
def test_artifact_batches_allow_and_refuse_as_the_proxy(auth_api, users, level: str) -> None:
    import io
    import tarfile

    (alice,) = users("alice")
    exp, run = experiment_with_run(auth_api)
    folder = f"{exp}/{run}/artifacts"
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{folder}"
    assert auth_api.request("PUT", f"{proxy}/a.txt", content=b"a", headers=ADMIN).status_code == 200
    grant(auth_api, "experiment", exp, "alice", level)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as archive:
        info = tarfile.TarInfo("b.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"b"))
    tar = {"Content-Type": "application/x-tar", **alice}
    pairs = [
        (
            auth_api.request("PUT", f"{proxy}/c.txt", content=b"c", headers=alice),
            auth_api.request(
                "PUT", f"{MODELYARD}/artifacts/batch/{folder}", content=out.getvalue(), headers=tar
            ),
        ),
        (
            auth_api.request("GET", f"{proxy}/a.txt", headers=alice),
            auth_api.post(
                f"{MODELYARD}/artifacts/batch-get/{folder}", json={"files": ["a.txt"]}, headers=alice
            ),
        ),
    ]
    for want, got in pairs:
        assert got.status_code == want.status_code, (level, got.text)
        if want.status_code != 200:
            assert got.status_code == 403 and got.json()["error_code"] == "PERMISSION_DENIED"
