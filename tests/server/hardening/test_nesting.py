"""Defect class 3: a request body nested 1,000 levels deep (arrays or objects, in any field) is
400 with a JSON error, never a 500; a body just inside the limit is read normally; log-batch's fast
path (flat metrics) is unaffected. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json

import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.server.protocol import MAX_JSON_DEPTH, check_depth

API = "/api/2.0/mlflow"


def _arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def _objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _post(api, path: str, text: str):
    return api.request("POST", API + path, content=text, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/runs/search", '{{"experiment_ids": {deep}}}'),
        ("/experiments/create", '{{"name": "x", "tags": {deep}}}'),
        ("/runs/log-batch", '{{"run_id": "r", "metrics": [{deep}]}}'),
        ("/runs/log-batch", '{{"run_id": "r", "params": {deep}}}'),
        ("/logged-models/search", '{{"experiment_ids": ["0"], "datasets": [{deep}]}}'),
        ("/model-versions/create", '{{"name": "m", "source": "s", "tags": {deep}}}'),
    ],
)
@pytest.mark.parametrize("shape", [_arrays, _objects])
def test_a_body_nested_1000_levels_is_a_400(db_api, path, template, shape):
    r = _post(db_api, path, template.format(deep=shape(1000)))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "nested deeper than" in r.json()["message"]


def test_deeper_than_orjson_reads_is_a_400_too(db_api):
    r = _post(db_api, "/runs/search", '{"experiment_ids": ' + _arrays(5000) + "}")
    assert r.status_code == 400 and r.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")


def test_the_limit_is_exact():
    check_depth(json.loads('{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH))  # MAX levels of objects
    check_depth(json.loads(_arrays(MAX_JSON_DEPTH)))
    with pytest.raises(InvalidParameterValue, match="nested deeper than"):
        check_depth(json.loads('{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)))
    with pytest.raises(InvalidParameterValue, match="nested deeper than"):
        check_depth(json.loads(_arrays(MAX_JSON_DEPTH + 1)))


def test_a_body_inside_the_limit_is_read(db_api, hx, unique):
    """Deep but legal: the request reaches the message parser, which answers about the field's type."""
    r = _post(db_api, "/experiments/create", '{"name": "x' + unique + '", "tags": ' + _arrays(MAX_JSON_DEPTH - 1) + "}")
    assert r.status_code == 400 and "nested deeper" not in r.json()["message"]


def test_log_batch_fast_path_still_logs_a_thousand_metrics(db_api, hx, unique):
    run = hx.run(db_api, hx.experiment(db_api, f"nest-{unique}"))
    metrics = [{"key": f"m{i % 10}", "value": i, "timestamp": 1, "step": i} for i in range(1000)]
    r = db_api.post(f"{API}/runs/log-batch", json={"run_id": run, "metrics": metrics})
    assert r.status_code == 200, r.text
    hist = db_api.get(f"{API}/metrics/get-history", params={"run_id": run, "metric_key": "m3"}).json()
    assert len(hist["metrics"]) == 100
