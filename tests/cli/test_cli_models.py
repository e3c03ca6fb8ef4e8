"""``modelyard models predict``: files in, predictions out, one-line errors."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import modelyard as my  # noqa: E402
from modelyard.cli import models as cli_models  # noqa: E402


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, LogisticRegression(max_iter=400).fit(X, y)


@pytest.fixture
def logged(tracking_uri, data):
    X, clf = data
    with my.start_run() as run:
        my.sklearn.log_model(clf, name="model", input_example=X.iloc[:3])
    yield f"runs:/{run.info.run_id}/model"
    from modelyard.tracking import fluent

    fluent.set_tracking_uri(None)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_predict_file_to_file(invoke, logged, data, tmp_path, fmt):
    X, clf = data
    src, dst = tmp_path / f"in.{fmt}", tmp_path / f"out.{fmt}"
    if fmt == "csv":
        X.to_csv(src, index=False)
    elif fmt == "parquet":
        X.to_parquet(src)
    else:
        src.write_text(json.dumps({"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}))
    result = invoke("models", "predict", "-m", logged, "-i", str(src), "-o", str(dst))
    assert result.exit_code == 0, result.output + result.stderr
    if fmt == "csv":
        got = pd.read_csv(dst)["prediction"].tolist()
    elif fmt == "parquet":
        got = pd.read_parquet(dst)["prediction"].tolist()
    else:
        got = json.loads(dst.read_text())["predictions"]
    assert got == clf.predict(X).tolist()
    assert f"Wrote {len(X)} predictions" in result.stderr


def test_predict_records_to_stdout_with_a_model_folder(invoke, data, tmp_path):
    X, clf = data
    my.sklearn.save_model(clf, tmp_path / "m")
    (tmp_path / "rows.json").write_text(X.iloc[:4].to_json(orient="records"))
    result = invoke("models", "predict", "-m", str(tmp_path / "m"), "-i", str(tmp_path / "rows.json"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": clf.predict(X.iloc[:4]).tolist()}


def test_a_schema_mismatch_is_one_clear_line(invoke, logged, data, tmp_path):
    X, _ = data
    X.drop(columns=["petal width (cm)"]).to_csv(tmp_path / "in.csv", index=False)
    result = invoke("models", "predict", "-m", logged, "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "Error: The input does not match the model's signature: Model is missing inputs ['petal width (cm)']."
    )
    assert not (tmp_path / "o.csv").exists()


def test_bad_arguments(invoke, logged, tmp_path):
    (tmp_path / "in.txt").write_text("x")
    result = invoke("models", "predict", "-m", logged, "-i", str(tmp_path / "in.txt"))
    assert result.exit_code == 2 and "Unsupported file type .txt" in result.stderr
    (tmp_path / "in.csv").write_text("a\n1\n")
    result = invoke("models", "predict", "-m", logged, "-i", str(tmp_path / "in.csv"), "--params", "[1]")
    assert result.exit_code == 2 and "--params must be a JSON object" in result.stderr
    result = invoke("models", "predict", "-m", "runs:/" + "0" * 32 + "/model", "-i", str(tmp_path / "in.csv"))
    assert result.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in result.stderr


def test_large_inputs_are_predicted_in_chunks_with_progress(data, monkeypatch):
    X, clf = data

    class Counting:
        calls = 0

        def predict(self, chunk, params=None):
            Counting.calls += 1
            return clf.predict(chunk)

    big = pd.concat([X] * 10, ignore_index=True)  # 1,500 rows
    monkeypatch.setattr(cli_models, "PROGRESS_MIN_ROWS", 1000)
    out = cli_models.predict_in_chunks(Counting(), big, None, chunk_size=200)
    assert Counting.calls == 8
    np.testing.assert_array_equal(out["prediction"].to_numpy(), clf.predict(big))


def test_the_group_takes_more_subcommands():
    import click

    assert isinstance(cli_models.models, click.Group) and "predict" in cli_models.models.commands
