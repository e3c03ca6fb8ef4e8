"""The Open Inference Protocol v2 endpoints over the same served models."""

from __future__ import annotations

import numpy as np
import pandas as pd

import modelyard.pyfunc as mpf
from modelyard.models.signature import infer_signature


def columns(frame):
    return [{"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()} for c in frame.columns]


def test_health_server_and_model_metadata(serve, model_dir):
    app = serve(f"clf={model_dir}")
    assert app.get("/v2/health/live").json() == {"live": True}
    assert app.get("/v2/health/ready").json() == {"ready": True}
    assert app.get("/v2").json()["name"] == "modelyard"
    meta = app.get("/v2/models/clf").json()
    version = meta["versions"][0]
    assert meta["name"] == "clf"
    assert meta["inputs"][0] == {"name": "f0", "datatype": "FP64", "shape": [-1]}
    assert len(meta["inputs"]) == 6
    assert app.get(f"/v2/models/clf/versions/{version}").status_code == 200
    assert app.get("/v2/models/clf/ready").json() == {"name": "clf", "version": version, "ready": True}
    assert app.get(f"/v2/models/clf/versions/{version}/ready").status_code == 200


def test_infer_with_one_input_per_column(serve, model_dir, estimators, data):
    app = serve(f"clf={model_dir}")
    rows = data.iloc[20:25]
    r = app.post("/v2/models/clf/infer", json={"id": "q-1", "inputs": columns(rows)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model_name"], body["id"]) == ("clf", "q-1")
    assert body["model_version"] == r.headers["x-modelyard-model-version"].split("/", 1)[1]
    assert body["outputs"] == [
        {"name": "predict", "shape": [5], "datatype": "INT64", "data": estimators[0].predict(rows).tolist()}
    ]


def test_infer_with_one_2d_tensor_for_a_column_signature(serve, model_dir, estimators, data):
    app = serve(f"clf={model_dir}")
    rows = data.head(3)
    tensor = {"name": "x", "shape": [3, 6], "datatype": "FP64", "data": rows.to_numpy().ravel().tolist()}
    r = app.post("/v2/models/clf/infer", json={"inputs": [tensor]})
    assert r.json()["outputs"][0]["data"] == estimators[0].predict(rows).tolist()


class Doubler(mpf.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * (params or {}).get("factor", 2)


def test_infer_on_a_tensor_model_with_parameters(serve, tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    sig = infer_signature(x, x, params={"factor": 2})
    mpf.save_model(tmp_path / "t", python_model=Doubler(), signature=sig)
    app = serve(f"t={tmp_path / 't'}")
    meta = app.get("/v2/models/t").json()
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 3]}]
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": x.ravel().tolist()}], "parameters": {"factor": 3}}
    out = app.post("/v2/models/t/infer", json=body).json()["outputs"][0]
    assert (out["shape"], out["datatype"], out["data"]) == ([2, 3], "FP32", (x * 3).ravel().tolist())


def _frame_out(frame):
    return pd.DataFrame({"score": frame["a"] * 1.5, "label": ["yes"] * len(frame)})


def test_a_dataframe_prediction_gives_one_output_per_column(serve, tmp_path):
    mpf.save_model(tmp_path / "f", python_model=_frame_out)
    app = serve(f"f={tmp_path / 'f'}")
    body = {"inputs": [{"name": "a", "shape": [2], "datatype": "INT64", "data": [2, 4]},
                       {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["u", "v"]}]}
    outputs = app.post("/v2/models/f/infer", json=body).json()["outputs"]
    assert outputs == [
        {"name": "score", "shape": [2], "datatype": "FP64", "data": [3.0, 6.0]},
        {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["yes", "yes"]},
    ]


def test_errors(serve, model_dir, data):
    app = serve(f"clf={model_dir}")
    assert app.get("/v2/models/nope").status_code == 404
    assert "clf" in app.get("/v2/models/nope").json()["error"]
    wrong = app.get("/v2/models/clf/versions/999/ready")
    assert wrong.status_code == 404 and "999" in wrong.json()["error"]
    assert app.post("/v2/models/clf/versions/999/infer", json={"inputs": columns(data.head(1))}).status_code == 404
    cases = [
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "f0", "shape": [1], "datatype": "FP128", "data": [1]}]}, "datatype"),
        ({"inputs": [{"name": "f0", "shape": [2], "datatype": "FP64", "data": [1.0]}]}, "shape"),
        ({"inputs": columns(data.head(1).drop(columns="f4"))}, "f4"),
    ]
    for body, needle in cases:
        r = app.post("/v2/models/clf/infer", json=body)
        assert r.status_code == 400, (body, r.text)
        assert needle in r.json()["error"]
