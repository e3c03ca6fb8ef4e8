"""Run endpoints (and artifacts/list) in-process: exact JSON answers, MLflow error codes and statuses."""

from __future__ import annotations

import json
import re
import time

import pytest

from modelyard.entities import LoggedModelOutput
from modelyard.store.tracking.base import TrackingStore
from modelyard.tracking.service import LOG_MODEL_HISTORY_TAG

API = "/api/2.0/mlflow"
RID = re.compile(r"[0-9a-f]{32}")


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


def error(resp, status: int, code: str) -> str:
    """Assert an MLflow error body; return its message."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    return body["message"]


def create(api, **body) -> dict:
    return ok(api.post(f"{API}/runs/create", json=body))["run"]


def get(api, run_id: str) -> dict:
    return ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]


def post(api, endpoint: str, **body):
    return api.post(f"{API}/{endpoint}", json=body)


# -- create / get ----------------------------------------------------------------------------------
def test_create_run_exact_shape(api) -> None:
    run = create(
        api,
        experiment_id="0",
        user_id="alice",
        start_time=1_700_000_000_000,
        run_name="mine",
        tags=[{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
    )
    run_id = run["info"]["run_id"]
    assert RID.fullmatch(run_id)
    assert run == {
        "info": {
            "run_id": run_id,
            "run_uuid": run_id,
            "run_name": "mine",
            "experiment_id": "0",
            "user_id": "alice",
            "status": "RUNNING",
            "start_time": 1_700_000_000_000,
            "artifact_uri": f"mlflow-artifacts:/0/{run_id}/artifacts",
            "lifecycle_stage": "active",
        },
        "data": {
            "tags": [
                {"key": "a", "value": "1"},
                {"key": "b", "value": "2"},
                {"key": "mlflow.runName", "value": "mine"},
            ]
        },
        "inputs": {},
        "outputs": {},
    }
    assert get(api, run_id) == run
    assert ok(api.get(f"{API}/runs/get", params={"run_uuid": run_id}))["run"] == run
    assert ok(api.get(f"/ajax-api/2.0/mlflow/runs/get?run_uuid={run_id}&run_id={run_id}"))["run"] == run


def test_create_run_defaults(api) -> None:
    before = int(time.time() * 1000)
    info = create(api)["info"]
    assert info["experiment_id"] == "0" and info["user_id"] == "" and info["status"] == "RUNNING"
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", info["run_name"])
    assert before <= info["start_time"] <= int(time.time() * 1000)
    assert "end_time" not in info
    assert get(api, info["run_id"])["data"]["tags"] == [{"key": "mlflow.runName", "value": info["run_name"]}]


def test_create_run_in_new_experiment_and_camel_case(api) -> None:
    exp_id = ok(api.post(f"{API}/experiments/create", json={"name": "e"}))["experiment_id"]
    info = create(api, experimentId=exp_id, runName="camel", startTime="42")["info"]  # int64 as a string
    assert (info["experiment_id"], info["run_name"], info["start_time"]) == (exp_id, "camel", 42)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{info['run_id']}/artifacts"


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        ({"start_time": True}, 400, "INVALID_PARAMETER_VALUE", "start_time"),
        ({"start_time": 1.5}, 400, "INVALID_PARAMETER_VALUE", "start_time"),
        ({"start_time": "soon"}, 400, "INVALID_PARAMETER_VALUE", "start_time"),
        ({"start_time": 2**63}, 400, "INVALID_PARAMETER_VALUE", "start_time"),
        ({"tags": [{"value": "no key"}]}, 400, "INVALID_PARAMETER_VALUE", "tags.0.key"),
        ({"tags": "a=1"}, 400, "INVALID_PARAMETER_VALUE", "tags"),
        ({"experiment_id": "123456"}, 404, "RESOURCE_DOES_NOT_EXIST", "123456"),
        ({"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE", "abc"),
        (
            {"run_name": "x", "tags": [{"key": "mlflow.runName", "value": "y"}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "runName",
        ),
        ({"tags": [{"key": "bad/../key", "value": "v"}]}, 400, "INVALID_PARAMETER_VALUE", "bad/../key"),
    ],
)
def test_create_run_bad_input(api, body, status, code, needle) -> None:
    assert needle in error(post(api, "runs/create", **body), status, code)


def test_validation_messages_use_mlflows_wording(api) -> None:
    """Clients and MLflow's own tests match on these: the value quoted as JSON, MLflow's phrases."""
    bad = api.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": "many"})
    assert error(bad, 400, "INVALID_PARAMETER_VALUE").startswith(
        "Invalid value \"many\" for parameter 'max_results' supplied:"
    )
    too_many = api.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": 10**9})
    assert error(too_many, 400, "INVALID_PARAMETER_VALUE").startswith(
        "Invalid value 1000000000 for parameter 'max_results' supplied"
    )
    interval = api.get(f"{API}/metrics/get-history-bulk-interval", params={"metric_key": "m"})
    assert error(interval, 400, "INVALID_PARAMETER_VALUE") == "Missing value for required parameter 'run_ids'."
    bulk = api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", params={"metric_key": "m"})
    assert error(bulk, 400, "INVALID_PARAMETER_VALUE") == "GetMetricHistoryBulk request must specify at least one run_id."


def test_get_run_errors(api) -> None:
    assert error(api.get(f"{API}/runs/get"), 400, "INVALID_PARAMETER_VALUE") == (
        "Missing value for required parameter 'run_id'."
    )
    assert error(api.get(f"{API}/runs/get?run_id="), 400, "INVALID_PARAMETER_VALUE")
    assert error(api.get(f"{API}/runs/get?run_id={'0' * 32}"), 404, "RESOURCE_DOES_NOT_EXIST") == (
        f"Run with id={'0' * 32} not found"
    )


# -- wire protocol ---------------------------------------------------------------------------------
def test_text_plain_post_is_refused(api) -> None:
    resp = api.post(
        f"{API}/runs/create", content=b'{"experiment_id": "0"}', headers={"Content-Type": "text/plain"}
    )
    assert "application/json" in error(resp, 400, "BAD_REQUEST")
    resp = api.post(f"{API}/runs/create", content=b"{not json", headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in error(resp, 400, "BAD_REQUEST")
    resp = api.post(f"{API}/runs/create", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    error(resp, 400, "BAD_REQUEST")
    assert not ok(post(api, "runs/search", experiment_ids=["0"]))["runs"]


def test_double_encoded_body_and_wrong_method(api) -> None:
    body = json.dumps(json.dumps({"run_name": "twice"}))
    resp = api.post(f"{API}/runs/create", content=body, headers={"Content-Type": "application/json"})
    assert ok(resp)["run"]["info"]["run_name"] == "twice"
    assert api.get(f"{API}/runs/create").status_code == 405
    error(api.post(f"{API}/runs/get", json={}), 405, "BAD_REQUEST")


# -- update / delete / restore ---------------------------------------------------------------------
def test_update_run(api) -> None:
    run_id = create(api, start_time=100, run_name="before")["info"]["run_id"]
    info = ok(post(api, "runs/update", run_id=run_id, status="FINISHED", end_time="200", run_name="after"))
    assert info == {
        "run_info": {
            "run_id": run_id,
            "run_uuid": run_id,
            "run_name": "after",
            "experiment_id": "0",
            "user_id": "",
            "status": "FINISHED",
            "start_time": 100,
            "end_time": 200,
            "artifact_uri": f"mlflow-artifacts:/0/{run_id}/artifacts",
            "lifecycle_stage": "active",
        }
    }
    assert {"key": "mlflow.runName", "value": "after"} in get(api, run_id)["data"]["tags"]
    info = ok(post(api, "runs/update", run_uuid=run_id, status="KILLED"))["run_info"]
    assert (info["status"], info["end_time"], info["run_name"]) == ("KILLED", 200, "after")
    assert (
        ok(post(api, "runs/update", run_id=run_id, status=4))["run_info"]["status"] == "FAILED"
    )  # enum number


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"status": "DONE"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"status": True}, 400, "INVALID_PARAMETER_VALUE"),
        ({"status": 9}, 400, "INVALID_PARAMETER_VALUE"),
        ({"end_time": "later"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"status": "FINISHED", "run_id": None}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_update_run_bad_input(api, body, status, code) -> None:
    run_id = create(api)["info"]["run_id"]
    error(post(api, "runs/update", **{"run_id": run_id, **body}), status, code)
    assert get(api, run_id)["info"]["status"] == "RUNNING"


def test_delete_restore_and_logging_to_deleted_run(api) -> None:
    run_id = create(api)["info"]["run_id"]
    assert ok(post(api, "runs/delete", run_id=run_id)) == {}
    assert get(api, run_id)["info"]["lifecycle_stage"] == "deleted"
    writes = {
        "runs/log-metric": {"key": "m", "value": 1, "timestamp": 1},
        "runs/log-parameter": {"key": "p", "value": "1"},
        "runs/set-tag": {"key": "t", "value": "1"},
        "runs/log-batch": {"metrics": [{"key": "m", "value": 1, "timestamp": 1}]},
        "runs/log-inputs": {},
        "runs/update": {"status": "FINISHED"},
        "runs/log-model": {"model_json": json.dumps(_model(run_id))},
    }
    for endpoint, body in writes.items():
        message = error(post(api, endpoint, run_id=run_id, **body), 400, "INVALID_PARAMETER_VALUE")
        assert f"The run {run_id} must be in the 'active' state" in message, endpoint
    assert ok(post(api, "runs/restore", run_id=run_id)) == {}
    assert ok(post(api, "runs/log-metric", run_id=run_id, key="m", value=1, timestamp=1)) == {}
    for endpoint in ("runs/delete", "runs/restore"):
        error(post(api, endpoint, run_id="0" * 32), 404, "RESOURCE_DOES_NOT_EXIST")
        error(post(api, endpoint), 400, "INVALID_PARAMETER_VALUE")


# -- search ------------------------------------------------------------------------------------------
def test_search_runs_pages_and_filters(api) -> None:
    ids = [create(api, start_time=t, run_name=f"r{t}")["info"]["run_id"] for t in (1, 2, 3)]
    ok(post(api, "runs/log-metric", run_id=ids[0], key="acc", value=0.9, timestamp=1))
    first = ok(post(api, "runs/search", experiment_ids=["0"], max_results="2"))
    assert set(first) == {"runs", "next_page_token"}
    assert [r["info"]["run_id"] for r in first["runs"]] == [ids[2], ids[1]]  # start_time DESC
    assert first["runs"][0] == get(api, ids[2])
    second = ok(
        post(api, "runs/search", experiment_ids=["0"], max_results=2, page_token=first["next_page_token"])
    )
    assert [r["info"]["run_id"] for r in second["runs"]] == [ids[0]] and "next_page_token" not in second
    found = ok(post(api, "runs/search", experiment_ids=["0"], filter="metrics.acc > 0.5"))
    assert found == {"runs": [get(api, ids[0])]}
    ordered = ok(post(api, "runs/search", experiment_ids=["0"], order_by=["attributes.run_name ASC"]))
    assert [r["info"]["run_name"] for r in ordered["runs"]] == ["r1", "r2", "r3"]
    ok(post(api, "runs/delete", run_id=ids[1]))
    deleted = ok(post(api, "runs/search", experiment_ids=["0"], run_view_type="DELETED_ONLY"))
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [ids[1]]
    assert ok(post(api, "runs/search", experiment_ids=[])) == {"runs": []}


@pytest.mark.parametrize(
    "body",
    [
        {"filter": "metrics.acc >> 1"},
        {"max_results": 50_001},
        {"max_results": 0},
        {"max_results": "many"},
        {"run_view_type": "SOME"},
        {"run_view_type": True},
        {"order_by": ["nonsense.key"]},
        {"page_token": "not a token"},
        {"experiment_ids": "0"},
    ],
)
def test_search_runs_bad_input(api, body) -> None:
    error(post(api, "runs/search", **{"experiment_ids": ["0"], **body}), 400, "INVALID_PARAMETER_VALUE")


# -- logging -------------------------------------------------------------------------------------------
def test_log_metric_param_tag(api) -> None:
    run_id = create(api, run_name="r")["info"]["run_id"]
    assert ok(post(api, "runs/log-metric", run_id=run_id, key="loss", value=0.5, timestamp=10, step=2)) == {}
    assert ok(post(api, "runs/log-metric", run_uuid=run_id, key="nan", value="NaN", timestamp="11")) == {}
    assert ok(post(api, "runs/log-metric", run_id=run_id, key="inf", value="-Infinity", timestamp=12)) == {}
    assert ok(post(api, "runs/log-parameter", run_id=run_id, key="lr", value="0.01")) == {}
    assert (
        ok(post(api, "runs/log-parameter", run_id=run_id, key="lr", value="0.01")) == {}
    )  # same value: fine
    assert ok(post(api, "runs/set-tag", run_id=run_id, key="t", value="v")) == {}
    assert ok(post(api, "runs/set-tag", run_id=run_id, key="gone", value="x")) == {}
    assert ok(post(api, "runs/delete-tag", run_id=run_id, key="gone")) == {}
    assert get(api, run_id)["data"] == {
        "metrics": [
            {"key": "inf", "value": "-Infinity", "timestamp": 12, "step": 0},
            {"key": "loss", "value": 0.5, "timestamp": 10, "step": 2},
            {"key": "nan", "value": "NaN", "timestamp": 11, "step": 0},
        ],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "mlflow.runName", "value": "r"}, {"key": "t", "value": "v"}],
    }


def test_changed_param_is_refused(api) -> None:
    run_id = create(api)["info"]["run_id"]
    ok(post(api, "runs/log-parameter", run_id=run_id, key="lr", value="0.01"))
    message = error(
        post(api, "runs/log-parameter", run_id=run_id, key="lr", value="0.02"), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Changing param values is not allowed" in message and "0.01" in message and "0.02" in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"value": 1.0, "timestamp": 1}, "'key'"),
        ({"key": "m", "timestamp": 1}, "'value'"),
        ({"key": "m", "value": 1.0}, "'timestamp'"),
        ({"key": "m", "value": True, "timestamp": 1}, "'value'"),
        ({"key": "m", "value": "high", "timestamp": 1}, "'value'"),
        ({"key": "m", "value": [1.0], "timestamp": 1}, "'value'"),
        ({"key": "m", "value": 1.0, "timestamp": -1}, "timestamp"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "step": 2.5}, "'step'"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "step": False}, "'step'"),
        ({"key": "a!b", "value": 1.0, "timestamp": 1}, "a!b"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "run_id": None}, "run_id"),
    ],
)
def test_log_metric_bad_input(api, body, needle) -> None:
    run_id = create(api)["info"]["run_id"]
    message = error(
        post(api, "runs/log-metric", **{"run_id": run_id, **body}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert needle in message
    assert "metrics" not in get(api, run_id)["data"]


def test_logging_to_unknown_run_is_404(api) -> None:
    unknown = "0" * 32
    for endpoint, body in {
        "runs/log-metric": {"key": "m", "value": 1, "timestamp": 1},
        "runs/log-parameter": {"key": "p", "value": "1"},
        "runs/set-tag": {"key": "t", "value": "1"},
        "runs/delete-tag": {"key": "t"},
        "runs/log-batch": {},
        "runs/log-inputs": {},
    }.items():
        error(post(api, endpoint, run_id=unknown, **body), 404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_missing_tag_is_404(api) -> None:
    run_id = create(api)["info"]["run_id"]
    error(post(api, "runs/delete-tag", run_id=run_id, key="never"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(api, "runs/delete-tag", run_id=run_id), 400, "INVALID_PARAMETER_VALUE")


def test_log_batch(api) -> None:
    run_id = create(api, run_name="b")["info"]["run_id"]
    body = {
        "metrics": [
            {"key": "m", "value": 1, "timestamp": 5, "step": 1},
            {"key": "m", "value": 2.5, "timestamp": "6", "step": "2"},
        ],
        "params": [{"key": "p", "value": "x"}, {"key": "empty"}],
        "tags": [{"key": "t", "value": "y"}],
    }
    assert ok(post(api, "runs/log-batch", run_id=run_id, **body)) == {}
    assert get(api, run_id)["data"] == {
        "metrics": [{"key": "m", "value": 2.5, "timestamp": 6, "step": 2}],
        "params": [{"key": "empty", "value": ""}, {"key": "p", "value": "x"}],
        "tags": [{"key": "mlflow.runName", "value": "b"}, {"key": "t", "value": "y"}],
    }
    assert ok(post(api, "runs/log-batch", run_id=run_id)) == {}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"params": [{"key": "a", "value": "1"}, {"key": "a", "value": "1"}]}, "Duplicate"),
        ({"metrics": [{"key": "m", "value": 1, "timestamp": i} for i in range(1001)]}, "at most 1000"),
        ({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "at most 100"),
        ({"metrics": [{"key": "m", "value": True, "timestamp": 1}]}, "metrics.0.value"),
        ({"tags": [{"key": "ok", "value": "1"}, {"key": "x", "value": "v" * 8001}]}, "8000"),
        ({"metrics": {"key": "m"}}, "metrics"),
    ],
)
def test_log_batch_bad_input_writes_nothing(api, body, needle) -> None:
    run_id = create(api, run_name="b")["info"]["run_id"]
    assert needle in error(post(api, "runs/log-batch", run_id=run_id, **body), 400, "INVALID_PARAMETER_VALUE")
    assert get(api, run_id)["data"] == {"tags": [{"key": "mlflow.runName", "value": "b"}]}


# -- inputs, outputs, log-model ------------------------------------------------------------------------
DATASET = {
    "name": "iris",
    "digest": "abc123",
    "source_type": "local",
    "source": "/d/iris.csv",
    "schema": "{}",
}


def test_log_inputs_datasets(api) -> None:
    run_id = create(api)["info"]["run_id"]
    body = {"datasets": [{"dataset": DATASET, "tags": [{"key": "mlflow.data.context", "value": "train"}]}]}
    assert ok(post(api, "runs/log-inputs", run_id=run_id, **body)) == {}
    assert ok(post(api, "runs/log-inputs", run_id=run_id, **body)) == {}  # idempotent
    assert get(api, run_id)["inputs"] == {
        "dataset_inputs": [{"dataset": DATASET, "tags": [{"key": "mlflow.data.context", "value": "train"}]}]
    }


@pytest.mark.parametrize(
    "dataset",
    [
        {k: v for k, v in DATASET.items() if k != "name"},
        {**DATASET, "name": ""},
        {**DATASET, "digest": "d" * 37},
        {**DATASET, "source": None},
    ],
)
def test_log_inputs_bad_dataset(api, dataset) -> None:
    run_id = create(api)["info"]["run_id"]
    error(
        post(api, "runs/log-inputs", run_id=run_id, datasets=[{"dataset": dataset}]),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert get(api, run_id)["inputs"] == {}


class _Store:
    """The app's store with the logged-model hooks missing, left at the protocol's default, or recorded."""

    def __init__(self, inner, mode: str) -> None:
        self._inner = inner
        self.calls: list[tuple] = []
        if mode == "default":  # a store that does not override the protocol's (501) defaults
            self.log_outputs = TrackingStore.log_outputs.__get__(self)
            self.log_model_inputs = TrackingStore.log_model_inputs.__get__(self)
        elif mode == "recording":
            self.log_outputs = lambda run_id, models: self.calls.append(("outputs", run_id, list(models)))
            self.log_model_inputs = lambda run_id, ids: self.calls.append(("inputs", run_id, list(ids)))

    def __getattr__(self, name: str):
        if name in ("log_outputs", "log_model_inputs"):
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture
def hooks(api, request, monkeypatch) -> _Store:
    services = api.app.state.services
    store = _Store(services.tracking.store, request.param)
    monkeypatch.setattr(services.tracking, "store", store)
    return store


@pytest.mark.parametrize("hooks", ["missing", "default"], indirect=True)
def test_model_links_are_501_when_the_store_lacks_them(api, hooks) -> None:
    run_id = create(api)["info"]["run_id"]
    assert "model outputs" in error(
        post(api, "runs/outputs", run_id=run_id, models=[{"model_id": "m-1", "step": 0}]),
        501,
        "NOT_IMPLEMENTED",
    )
    resp = post(
        api, "runs/log-inputs", run_id=run_id, datasets=[{"dataset": DATASET}], models=[{"model_id": "m-1"}]
    )
    assert "model inputs" in error(resp, 501, "NOT_IMPLEMENTED")
    assert get(api, run_id)["inputs"] == {}  # nothing half-written
    assert ok(post(api, "runs/log-inputs", run_id=run_id, datasets=[{"dataset": DATASET}])) == {}


@pytest.mark.parametrize("hooks", ["recording"], indirect=True)
def test_model_links_reach_the_store(api, hooks) -> None:
    run_id = create(api)["info"]["run_id"]
    models = [{"model_id": "m-1", "step": "3"}, {"modelId": "m-2"}]
    assert ok(post(api, "runs/outputs", run_id=run_id, models=models)) == {}
    assert ok(post(api, "runs/log-inputs", run_id=run_id, models=[{"model_id": "m-1"}])) == {}
    assert hooks.calls == [
        ("outputs", run_id, [LoggedModelOutput("m-1", 3), LoggedModelOutput("m-2", 0)]),
        ("inputs", run_id, ["m-1"]),
    ]
    error(post(api, "runs/outputs", run_id=run_id, models=[{"step": 1}]), 400, "INVALID_PARAMETER_VALUE")
    error(post(api, "runs/outputs", models=[]), 400, "INVALID_PARAMETER_VALUE")
    bad = {"dataset": {**DATASET, "digest": "d" * 37}}  # a bad dataset fails before the models are linked
    error(
        post(api, "runs/log-inputs", run_id=run_id, datasets=[bad], models=[{"model_id": "m-3"}]),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert len(hooks.calls) == 2


def test_model_links_with_the_sql_store(api) -> None:
    store = api.app.state.services.tracking.store
    run_id = create(api)["info"]["run_id"]
    model_id = store.create_logged_model("0", name="model", source_run_id=run_id).model_id
    assert ok(post(api, "runs/outputs", run_id=run_id, models=[{"model_id": model_id, "step": 2}])) == {}
    body = {"datasets": [{"dataset": DATASET}], "models": [{"model_id": model_id}]}
    assert ok(post(api, "runs/log-inputs", run_id=run_id, **body)) == {}
    run = get(api, run_id)
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 2}]}
    assert run["inputs"] == {
        "dataset_inputs": [{"dataset": DATASET}],
        "model_inputs": [{"model_id": model_id}],
    }
    missing = "m-" + "0" * 32
    error(
        post(api, "runs/outputs", run_id=run_id, models=[{"model_id": missing}]),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(api, "runs/outputs", run_id="0" * 32, models=[{"model_id": model_id}]),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def _model(run_id: str, path: str = "model") -> dict:
    return {
        "artifact_path": path,
        "flavors": {"python_function": {}},
        "utc_time_created": "2024-01-01",
        "run_id": run_id,
    }


def test_log_model_appends_history(api) -> None:
    run_id = create(api)["info"]["run_id"]
    for path in ("model", "other"):
        assert (
            ok(post(api, "runs/log-model", run_id=run_id, model_json=json.dumps(_model(run_id, path)))) == {}
        )
    tags = {t["key"]: t["value"] for t in get(api, run_id)["data"]["tags"]}
    assert json.loads(tags[LOG_MODEL_HISTORY_TAG]) == [_model(run_id, "model"), _model(run_id, "other")]


@pytest.mark.parametrize(
    ("model_json", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "JSON object"),
        (json.dumps({"artifact_path": "m"}), "flavors"),
        (None, "model_json"),
    ],
)
def test_log_model_bad_input(api, model_json, needle) -> None:
    run_id = create(api)["info"]["run_id"]
    assert needle in error(
        post(api, "runs/log-model", run_id=run_id, model_json=model_json), 400, "INVALID_PARAMETER_VALUE"
    )
    error(
        post(api, "runs/log-model", run_id="0" * 32, model_json=json.dumps(_model("x"))),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


# -- artifacts/list ---------------------------------------------------------------------------------------
def test_list_artifacts(api) -> None:
    run_id = create(api)["info"]["run_id"]
    root = api.app.state.services.artifacts.destination
    from pathlib import Path

    base = Path(root) / "0" / run_id / "artifacts"
    (base / "sub" / "deeper").mkdir(parents=True)
    (base / "a.txt").write_bytes(b"hello")
    (base / "sub" / "b.bin").write_bytes(b"12345678")
    root_uri = f"mlflow-artifacts:/0/{run_id}/artifacts"
    listed = ok(api.get(f"{API}/artifacts/list", params={"run_id": run_id}))
    assert listed == {
        "root_uri": root_uri,
        "files": [{"path": "a.txt", "is_dir": False, "file_size": 5}, {"path": "sub", "is_dir": True}],
    }
    sub = ok(api.get(f"{API}/artifacts/list", params={"run_uuid": run_id, "path": "sub"}))
    assert sub == {
        "root_uri": root_uri,
        "files": [
            {"path": "sub/b.bin", "is_dir": False, "file_size": 8},
            {"path": "sub/deeper", "is_dir": True},
        ],
    }
    assert ok(api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "none"})) == {
        "root_uri": root_uri,
        "files": [],
    }
    other = create(api)["info"]["run_id"]  # a run never sees another run's artifacts
    assert ok(api.get(f"{API}/artifacts/list", params={"run_id": other}))["files"] == []


@pytest.mark.parametrize("path", ["../x", "sub/../../x", "/etc", "%2e%2e/x", "a\\b", "C:/x"])
def test_list_artifacts_refuses_traversal(api, path) -> None:
    run_id = create(api)["info"]["run_id"]
    error(
        api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": path}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_list_artifacts_errors(api) -> None:
    error(api.get(f"{API}/artifacts/list", params={"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get(f"{API}/artifacts/list"), 400, "INVALID_PARAMETER_VALUE")
    run_id = create(api)["info"]["run_id"]
    error(
        api.get(f"{API}/artifacts/list", params={"run_id": run_id, "page_token": "zzz"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
