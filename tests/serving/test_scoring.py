"""MLflow's scoring protocol in-process: every body format, the answers, the errors and their statuses."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest
from serving_helpers import COLUMNS, split_body

import modelyard.pyfunc as mpf
from modelyard.models.signature import infer_signature


@pytest.fixture
def logreg(serve, model_dir):
    return serve(str(model_dir))


def expected(estimators, frame) -> list:
    return estimators[0].predict(frame).tolist()


def test_every_json_format_csv_and_parquet_give_the_models_predictions(logreg, estimators, data):
    rows = data.iloc[10:17]
    want = expected(estimators, rows)
    bodies = [
        split_body(rows),
        {"dataframe_records": rows.to_dict(orient="records")},
        {"instances": rows.to_dict(orient="records")},
        {"inputs": {c: rows[c].tolist() for c in COLUMNS}},
        {"instances": rows.to_numpy().tolist()},
    ]
    for body in bodies:
        r = logreg.post("/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json() == {"predictions": want}
    csv = logreg.post("/invocations", content=rows.to_csv(index=False), headers={"Content-Type": "text/csv"})
    assert csv.json() == {"predictions": want}
    buf = io.BytesIO()
    rows.reset_index(drop=True).to_parquet(buf)
    pq = logreg.post("/invocations", content=buf.getvalue(), headers={"Content-Type": "application/vnd.apache.parquet"})
    assert pq.json() == {"predictions": want}


def test_integer_values_in_double_columns_are_accepted(logreg, estimators, data):
    rows = data.iloc[:3].round().astype(int)
    r = logreg.post("/invocations", json=split_body(rows))
    assert r.status_code == 200
    assert r.json()["predictions"] == expected(estimators, rows.astype(float))


def test_response_names_the_version_and_echoes_or_makes_a_request_id(logreg, data):
    r = logreg.post("/invocations", json=split_body(data.head(1)), headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    version = logreg.get("/version").json()["models"]["model"]["version"]
    assert r.headers["x-modelyard-model-version"] == f"model/{version}"
    other = logreg.post("/invocations", json=split_body(data.head(1)), headers={"X-Request-ID": "bad id with spaces"})
    assert other.headers["x-request-id"] != "bad id with spaces" and len(other.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"dataframe_split": {"columns": COLUMNS[:-1], "data": [[0.1] * 5]}}, "INVALID_PARAMETER_VALUE", "f5"),
        ({"dataframe_records": [{c: 1.0 for c in COLUMNS if c != "f2"}]}, "INVALID_PARAMETER_VALUE", "f2"),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, "x", 0.4, 0.5, 0.6]]}}, "INVALID_PARAMETER_VALUE", "f2"),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2]]}}, "BAD_REQUEST", "Row 0"),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[0.1] * 6]}, "inputs": [1]}, "BAD_REQUEST", "exactly one"),
        ({"columns": COLUMNS}, "BAD_REQUEST", "dataframe_split"),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[0.1] * 6]}, "params": [1]}, "BAD_REQUEST", "params"),
    ],
)
def test_bad_input_is_400_naming_what_is_wrong(logreg, body, code, needle):
    r = logreg.post("/invocations", json=body)
    assert r.status_code == 400
    assert r.json()["error_code"] == code
    assert needle in r.json()["message"]
    assert "Traceback" not in r.text


def test_malformed_json_is_400(logreg):
    r = logreg.post("/invocations", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error_code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=latin-1", None, "application/xml"])
def test_unsupported_content_type_is_415(logreg, data, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = logreg.post("/invocations", content=json.dumps(split_body(data.head(1))).encode(), headers=headers)
    assert r.status_code == 415
    assert "content type" in r.json()["message"]


def test_charset_utf8_is_accepted(logreg, data):
    r = logreg.post(
        "/invocations", content=json.dumps(split_body(data.head(1))), headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200


def test_oversized_body_is_413_and_the_server_goes_on(serve, model_dir, data):
    small = serve(str(model_dir), max_body_bytes=2000)
    r = small.post("/invocations", json=split_body(data.head(50)))
    assert r.status_code == 413
    assert r.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert small.post("/invocations", json=split_body(data.head(1))).status_code == 200


def _slow(frame):
    time.sleep(float(frame["sleep"].iloc[0]))
    return frame["sleep"].to_numpy()


def test_a_model_slower_than_the_timeout_is_504_and_the_server_stays_up(serve, tmp_path):
    mpf.save_model(tmp_path / "slow", python_model=_slow)
    slow = serve(str(tmp_path / "slow"), timeout=0.3)
    r = slow.post("/invocations", json={"dataframe_split": {"columns": ["sleep"], "data": [[1.5]]}})
    assert r.status_code == 504
    assert r.json()["error_code"] == "DEADLINE_EXCEEDED"
    assert slow.get("/ping").status_code == 200
    quick = slow.post("/invocations", json={"dataframe_split": {"columns": ["sleep"], "data": [[0.0]]}})
    assert quick.status_code == 200 and quick.json() == {"predictions": [0.0]}


def _explode(frame):
    raise RuntimeError("the model is broken")


def test_an_exception_in_the_model_is_400_without_a_stack_trace(serve, tmp_path):
    mpf.save_model(tmp_path / "boom", python_model=_explode)
    boom = serve(str(tmp_path / "boom"))
    r = boom.post("/invocations", json={"inputs": {"a": [1]}})
    assert r.status_code == 400
    assert r.json()["error_code"] == "BAD_REQUEST"
    assert "the model is broken" in r.json()["message"] and "Traceback" not in r.text


class Scaler(mpf.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["x"].to_numpy() * params["k"]


def test_params_reach_the_model_with_signature_defaults_and_checks(serve, tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    signature = infer_signature(frame, np.array([1.0, 2.0]), params={"k": 1.0})
    mpf.save_model(tmp_path / "scaler", python_model=Scaler(), signature=signature)
    scaler = serve(str(tmp_path / "scaler"))
    body = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}
    assert scaler.post("/invocations", json=body).json() == {"predictions": [1.0, 2.0]}
    assert scaler.post("/invocations", json={**body, "params": {"k": 3}}).json() == {"predictions": [3.0, 6.0]}
    bad = scaler.post("/invocations", json={**body, "params": {"k": "many"}})
    assert bad.status_code == 400 and "'k'" in bad.json()["message"]


def _frame_out(frame):
    return pd.DataFrame({"double": frame["x"] * 2, "label": ["a"] * len(frame)})


def test_a_dataframe_prediction_is_answered_as_records(serve, tmp_path):
    mpf.save_model(tmp_path / "frame", python_model=_frame_out)
    frame = serve(str(tmp_path / "frame"))
    r = frame.post("/invocations", json={"dataframe_records": [{"x": 1.5}, {"x": 2}]})
    assert r.json() == {"predictions": [{"double": 3.0, "label": "a"}, {"double": 4, "label": "a"}]}


def test_several_models_by_name_the_first_is_the_default(serve, model_dir, tmp_path, estimators, data):
    mpf.save_model(tmp_path / "frame", python_model=_frame_out)
    both = serve(f"clf={model_dir}", f"frame={tmp_path / 'frame'}")
    rows = data.head(2)
    assert both.post("/invocations", json=split_body(rows)).json() == {"predictions": expected(estimators, rows)}
    named = both.post("/invocations/frame", json={"dataframe_records": [{"x": 1.0}]})
    assert named.json() == {"predictions": [{"double": 2.0, "label": "a"}]}
    assert named.headers["x-modelyard-model-version"].startswith("frame/")
    missing = both.post("/invocations/nope", json={"dataframe_records": [{"x": 1.0}]})
    assert missing.status_code == 404 and "clf" in missing.json()["message"]
