"""Dataset descriptions: stable digests, MLflow's schema and profile formats."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from modelyard.autologging import datasets
from modelyard.autologging.batch import RunBatch, clean_key


def test_numpy_dataset_matches_mlflows_layout():
    X = np.arange(30, dtype="float64").reshape(10, 3)
    y = np.arange(10)
    found = datasets.dataset_input(X, y)
    assert [(t.key, t.value) for t in found.tags] == [("mlflow.data.context", "train")]
    ds = found.dataset
    assert (ds.name, ds.source_type) == ("dataset", "code")
    assert json.loads(ds.source)["tags"]["mlflow.source.type"] == "LOCAL"
    schema = json.loads(ds.schema)["mlflow_tensorspec"]
    assert json.loads(schema["features"]) == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]
    assert json.loads(schema["targets"]) == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    assert json.loads(ds.profile) == {
        "num_rows": 10, "features_shape": [10, 3], "features_size": 30, "features_nbytes": 240,
        "targets_shape": [10], "targets_size": 10, "targets_nbytes": 80,
    }
    assert len(ds.digest) == 8


def test_digest_is_stable_and_tracks_content():
    X = np.random.default_rng(0).normal(size=(50, 4))
    digest = datasets.describe(X).digest
    assert datasets.describe(X.copy()).digest == digest
    changed = X.copy()
    changed[3, 2] += 1.0
    assert datasets.describe(changed).digest != digest
    assert datasets.describe(X, np.zeros(50)).digest != digest  # targets count
    assert datasets.describe(X[:49]).digest != digest


def test_digest_is_the_same_in_another_process():
    import subprocess
    import sys

    code = (
        "import numpy as np, pandas as pd; from modelyard.autologging import datasets; "
        "f = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']}); "
        "print(datasets.describe(f).digest, datasets.describe(np.eye(3)).digest)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert out == [datasets.describe(frame).digest, datasets.describe(np.eye(3)).digest]


def test_dataframe_schema_types():
    frame = pd.DataFrame({
        "f64": [1.0], "f32": np.array([1.0], dtype="float32"), "i64": [1], "i32": np.array([1], dtype="int32"),
        "flag": [True], "name": ["a"], "when": pd.to_datetime(["2024-01-01"]), "cat": pd.Categorical(["x"]),
    })
    ds = datasets.describe(frame)
    types = {c["name"]: c["type"] for c in json.loads(ds.schema)["mlflow_colspec"]}
    assert types == {
        "f64": "double", "f32": "float", "i64": "long", "i32": "integer", "flag": "boolean",
        "name": "string", "when": "datetime", "cat": "string",
    }
    assert json.loads(ds.profile) == {"num_rows": 1, "num_elements": 8}


def test_sparse_matrix_is_described_without_densifying():
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 1000, 5000), rng.integers(0, 50_000, 5000)
    X = scipy.sparse.csr_matrix((rng.normal(size=5000), (rows, cols)), shape=(1000, 50_000))
    ds = datasets.describe(X)
    profile = json.loads(ds.profile)
    assert profile["features_shape"] == [1000, 50_000]
    assert profile["features_nbytes"] == X.data.nbytes  # a dense copy would be 400 MB
    assert datasets.describe(X.copy()).digest == ds.digest


def test_lists_series_and_unsupported_types():
    assert datasets.describe([[1, 2], [3, 4]]) is not None
    assert json.loads(datasets.describe(pd.Series([1.0, 2.0])).profile)["num_rows"] == 2
    assert datasets.describe(object()) is None
    assert datasets.dataset_input("a path.csv") is None


def test_keys_are_made_valid():
    assert clean_key("ndcg@3") == "ndcg_3"
    assert clean_key("a" * 300) == "a" * 250
    assert clean_key("../x") == "./x"
    assert clean_key("valid_0-l2") == "valid_0-l2"


class _Client:
    def __init__(self, fail_with_params=False):
        self.calls = []
        self.fail_with_params = fail_with_params

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self.calls.append((len(metrics), len(params), len(tags)))
        if params and self.fail_with_params:
            raise ValueError("params are immutable")

    def log_inputs(self, run_id, inputs):
        self.calls.append(("inputs", len(inputs)))


def test_batch_sends_everything_in_one_request_and_keeps_metrics_when_params_are_refused():
    client = _Client()
    batch = RunBatch(client, "r")
    batch.log_params({"a": 1, "b": "x" * 7000})
    batch.log_metrics({"m": 1.0, "bad": "not a number"})
    batch.set_tags({"t": "v"})
    assert len(batch.params["b"]) == 6000
    batch.flush()
    assert client.calls == [(1, 2, 1)]

    client = _Client(fail_with_params=True)
    batch = RunBatch(client, "r")
    batch.log_params({"a": 1})
    batch.log_metrics({"m": 1.0})
    with pytest.raises(ValueError, match="immutable"):
        batch.flush()
    assert client.calls == [(1, 1, 0), (1, 0, 0)]  # retried without the params
