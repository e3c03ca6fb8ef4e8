"""log_model with a training set (feature_spec.yaml, dataset inputs, plain pyfunc loading) and
score_batch's Databricks semantics on pandas."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from features_helpers import ts
from sklearn.linear_model import LinearRegression

import modelyard
from modelyard.exceptions import InvalidParameterValue


def test_log_model_writes_spec_and_records_inputs(logged) -> None:
    fc, info, run, _ = logged
    from modelyard.models.uri import download_model

    folder = download_model(info.model_uri)
    spec = yaml.safe_load((folder / "feature_spec.yaml").read_text())
    assert spec["input_columns"] == ["purchases", "age"] and spec["label"] == "y"
    assert [(lk["table_name"], lk["table_version"]) for lk in spec["lookups"]] == [("cf", 0), ("profile", 0)]
    assert spec["lookups"][0]["timestamp_lookup_key"] == "event_ts"
    inputs = fc.tracking_client.get_run(run.info.run_id).inputs.dataset_inputs
    sources = {d.dataset.name: json.loads(d.dataset.source) for d in inputs}
    assert sources["cf"]["delta_table_version"] == 0 and sources["profile"]["delta_table_name"] == "profile"
    assert info.registered_model_version == 1


def test_plain_pyfunc_load_still_works(logged) -> None:
    _, info, _, model = logged
    loaded = modelyard.pyfunc.load_model("models:/churn/1")
    frame = pd.DataFrame({"purchases": [3], "age": [30.0]})
    assert loaded.predict(frame).tolist() == pytest.approx(model.predict(frame).tolist())


def test_score_batch_joins_then_predicts(logged) -> None:
    fc, _, _, model = logged
    batch = pd.DataFrame({"customer_id": [2, 1, 9], "event_ts": [ts(6), ts(12), ts(3)], "note": ["a", "b", "c"]})
    out = fc.score_batch("models:/churn/1", batch)
    assert out.columns.tolist() == ["customer_id", "event_ts", "note", "purchases", "age", "prediction"]
    assert out["note"].tolist() == ["a", "b", "c"]  # input order kept
    assert out["purchases"].tolist() == [1, 7, 0]  # as of each row; key 9 gets the default
    assert out["age"].tolist() == [40.0, 30.0, 35.0]
    expected = model.predict(pd.DataFrame({"purchases": [1, 7, 0], "age": [40.0, 30.0, 35.0]}))
    assert out["prediction"].tolist() == pytest.approx(expected.tolist())
    assert out.attrs["missing_keys"] == {"cf": 1, "profile": 1}


def test_column_in_input_wins_over_stored_feature(logged) -> None:
    fc, _, _, model = logged
    batch = pd.DataFrame({"customer_id": [1], "event_ts": [ts(12)], "age": [50.0]})
    out = fc.score_batch("models:/churn/1", batch)
    assert out["age"].tolist() == [50.0] and out["purchases"].tolist() == [7]
    assert out["prediction"].iloc[0] == pytest.approx(model.predict(pd.DataFrame({"purchases": [7], "age": [50.0]}))[0])


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (pd.DataFrame({"event_ts": [ts(1)]}), "no column 'customer_id'"),
        (pd.DataFrame({"customer_id": [1]}), "no column 'event_ts'"),
        (pd.DataFrame({"customer_id": [1], "event_ts": [ts(1)], "prediction": [0]}), "already has a 'prediction'"),
        (pd.DataFrame({"customer_id": [1], "event_ts": [ts(1).replace(tzinfo=None)]}), "timezone-aware or both naive"),
        (pd.DataFrame({"customer_id": ["1"], "event_ts": [ts(1)]}), "Lookup key 'customer_id' is"),
    ],
)
def test_bad_input_refused_before_any_work(logged, batch, message) -> None:
    fc = logged[0]
    with pytest.raises(InvalidParameterValue, match=message):
        fc.score_batch("models:/churn/1", batch)


def test_model_without_spec_scores_without_join(fc) -> None:
    model = LinearRegression().fit(pd.DataFrame({"a": [0.0, 1.0]}), [0.0, 2.0])
    with modelyard.start_run():
        info = modelyard.sklearn.log_model(model, name="plain")
    out = fc.score_batch(info.model_uri, pd.DataFrame({"a": [3.0]}), result_type="float")
    assert out["prediction"].tolist() == pytest.approx([6.0])
    assert str(out["prediction"].dtype) == "float32"


def test_many_chunks_keep_order(logged) -> None:
    fc = logged[0]
    n = 2_500
    batch = pd.DataFrame({"customer_id": [1 + i % 2 for i in range(n)], "event_ts": [ts(12)] * n, "i": range(n)})
    out = fc.score_batch("models:/churn/1", batch, batch_rows=1000)
    assert out["i"].tolist() == list(range(n)) and out["purchases"].tolist()[:2] == [7, 1]


def test_scoring_reads_the_newest_feature_values(logged) -> None:
    fc = logged[0]
    fc.write_table("profile", pd.DataFrame({"customer_id": [1], "age": [99.0]}))
    out = fc.score_batch("models:/churn/1", pd.DataFrame({"customer_id": [1], "event_ts": [ts(12)]}))
    assert out["age"].tolist() == [99.0]
