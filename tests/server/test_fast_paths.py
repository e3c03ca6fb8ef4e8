"""The server's fast paths answer exactly as the general ones: the log-batch parser for plain
metrics, the exact-path router, inline handlers, and small artifact uploads and downloads."""

from __future__ import annotations

import pytest

from modelyard.server import protocol
from modelyard.server.app import ExactRouter
from modelyard.server.routes.runs import LogBatch, parse_log_batch

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _run(api) -> str:
    resp = api.post(f"{API}/runs/create", json={"experiment_id": "0", "start_time": 1})
    assert resp.status_code == 200, resp.text
    return resp.json()["run"]["info"]["run_id"]


def _history(api, run_id: str, key: str) -> list[dict]:
    resp = api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    assert resp.status_code == 200, resp.text
    return resp.json().get("metrics", [])


def test_plain_metrics_take_the_fast_path_and_store_the_same_points(api) -> None:
    run_id = _run(api)
    metrics = [
        {"key": "loss", "value": 1, "timestamp": 10, "step": 0},  # an integer value is a double
        {"key": "loss", "value": 0.5, "timestamp": 11},  # step defaults to 0
        {"key": "acc", "value": -2.5, "timestamp": 12, "step": 3},
    ]
    body = {"run_id": run_id, "metrics": metrics, "params": [{"key": "lr", "value": "0.1"}]}
    parsed = parse_log_batch(body)
    assert not isinstance(parsed, LogBatch)  # the plain-metrics path
    assert [(m.key, m.value, m.timestamp, m.step) for m in parsed.entities] == [
        ("loss", 1.0, 10, 0),
        ("loss", 0.5, 11, 0),
        ("acc", -2.5, 12, 3),
    ]
    assert api.post(f"{API}/runs/log-batch", json=body).status_code == 200
    loss = _history(api, run_id, "loss")
    assert [(m["value"], m["timestamp"], m["step"]) for m in loss] == [(1.0, 10, 0), (0.5, 11, 0)]
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    latest = {m["key"]: (m["value"], m["step"]) for m in run["data"]["metrics"]}
    assert latest == {"loss": (0.5, 0), "acc": (-2.5, 3)}


@pytest.mark.parametrize(
    "metric",
    [
        {"key": "m", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "m", "value": 1.0, "timestamp": "5", "step": "2"},
        {"key": "m", "value": 1.0, "timestamp": 1, "model_id": "m-1"},
        {"key": "m", "value": True, "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": 1.5},
        {"key": 3, "value": 1.0, "timestamp": 1},
        {"value": 1.0, "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": 2**63},
        ["m", 1.0, 1],
    ],
)
def test_other_metric_shapes_are_parsed_by_the_model_with_the_same_errors(metric) -> None:
    body = {"run_id": "r", "metrics": [{"key": "ok", "value": 1.0, "timestamp": 1}, metric]}
    try:
        expected = protocol.parse_message(body, LogBatch)
    except Exception as exc:  # noqa: BLE001 - the same error, word for word
        with pytest.raises(type(exc)) as got:
            parse_log_batch(body)
        assert str(got.value) == str(exc)
    else:
        assert repr(parse_log_batch(body)) == repr(expected)  # NaN != NaN


def test_a_bad_batch_answers_as_before(api) -> None:
    run_id = _run(api)
    resp = api.post(
        f"{API}/runs/log-batch",
        json={"run_id": run_id, "metrics": [{"key": "m", "value": True, "timestamp": 1}]},
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "metrics.0.value" in resp.json()["message"]
    resp = api.post(
        f"{API}/runs/log-batch",
        json={"run_id": "nope", "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}]},
    )
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_repeated_points_are_stored_once(api) -> None:
    run_id = _run(api)
    point = {"key": "loss", "value": 0.25, "timestamp": 7, "step": 1}
    for _ in range(2):
        assert (
            api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [point, point]}).status_code
            == 200
        )
        assert api.post(f"{API}/runs/log-metric", json={"run_id": run_id, **point}).status_code == 200
    assert len(_history(api, run_id, "loss")) == 1


def test_exact_router_keeps_405_404_head_and_both_prefixes(api) -> None:
    assert isinstance(api.app.router, ExactRouter)
    assert (("POST", f"{API}/runs/log-metric")) in api.app.router.exact
    assert api.get(f"{API}/runs/log-metric").status_code == 405
    resp = api.get(f"{API}/runs/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert api.request("HEAD", "/health").status_code == 200
    run_id = _run(api)
    resp = api.get(f"/ajax-api/2.0/mlflow/runs/get?run_id={run_id}")
    assert resp.status_code == 200
    assert resp.headers["x-content-type-options"] == "nosniff"  # the middleware still wraps it


@pytest.mark.parametrize("size", [0, 1, 1024, 64 * 1024 + 1, 256 * 1024 + 1, 1024 * 1024 + 1])
def test_uploads_and_downloads_of_every_size_class_round_trip(api, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    url = f"{ARTIFACTS}/0/r/artifacts/f-{size}.bin"
    assert api.request("PUT", url, content=data).status_code == 200
    resp = api.get(url)
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["content-length"] == str(size)
    assert resp.headers["content-disposition"].startswith("attachment")
    if size > 10:
        part = api.get(url, headers={"Range": "bytes=3-9"})
        assert part.status_code == 206
        assert part.content == data[3:10]
        assert part.headers["content-range"] == f"bytes 3-9/{size}"
