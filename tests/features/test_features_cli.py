"""``modelyard features ...`` and ``modelyard models score-batch`` as a user runs them."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from features_helpers import ts

from modelyard.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_list_describe_history_read_delete(fc, customer_features) -> None:
    fc.create_table("churn.cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    fc.write_table("churn.cf", customer_features.assign(purchases=0))
    listed = run("features", "list", "--name-like", "churn.%")
    assert listed.exit_code == 0, listed.output
    assert [t["name"] for t in json.loads(listed.stdout)["feature_tables"]] == ["churn.cf"]
    described = json.loads(run("features", "describe", "churn.cf").stdout)["feature_table"]
    assert described["primary_keys"] == ["customer_id"] and described["current_version"] == 1
    history = json.loads(run("features", "history", "churn.cf").stdout)["history"]
    assert [h["version"] for h in history] == [1, 0] and history[0]["operation"] == "MERGE"
    old = json.loads(run("features", "read", "churn.cf", "--version", "0", "--limit", "2").stdout)
    assert old["num_rows"] == 3 and len(old["rows"]) == 2 and old["rows"][0]["purchases"] in (3, 7, 1)
    assert run("features", "delete", "churn.cf", "--yes").exit_code == 0
    missing = run("features", "describe", "churn.cf")
    assert missing.exit_code == 1 and "Feature table 'churn.cf' does not exist" in missing.output


@pytest.fixture
def events(tmp_path):
    frame = pd.DataFrame({"customer_id": [2, 1, 9], "event_ts": [ts(6), ts(12), ts(3)], "note": ["a", "b", "c"]})
    return frame


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "delta"])
def test_score_batch_file_to_parquet(logged, events, tmp_path, fmt) -> None:
    from modelyard.features import delta

    source = tmp_path / f"events.{fmt}" if fmt != "delta" else tmp_path / "events_delta"
    if fmt == "parquet":
        events.to_parquet(source)
    elif fmt == "csv":
        events.assign(event_ts=events.event_ts.map(lambda t: t.isoformat())).to_csv(source, index=False)
    elif fmt == "jsonl":
        events.assign(event_ts=events.event_ts.map(lambda t: t.isoformat())).to_json(source, orient="records", lines=True)
    else:
        delta.create(str(source), delta.normalize(delta.to_arrow(events)))
    out = tmp_path / "scored.parquet"
    result = run("models", "score-batch", "-m", "models:/churn/1", "--input", str(source), "--output", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 3 and summary["missing_keys"] == {"cf": 1, "profile": 1}
    assert summary["model_uri"] == "models:/churn/1"
    scored = pq.read_table(out).to_pandas().sort_values("note")
    assert scored["purchases"].tolist() == [1, 7, 0]
    assert set(scored.columns) >= {"prediction", "model_version", "scoring_timestamp", "age"}
    assert scored["model_version"].unique().tolist() == ["models:/churn/1"]


def test_score_batch_alias_into_delta(logged, events, tmp_path) -> None:
    fc = logged[0]
    fc.tracking_client.set_registered_model_alias("churn", "champion", "1")
    source = tmp_path / "events.parquet"
    events.to_parquet(source)
    out = tmp_path / "scored"
    result = run("models", "score-batch", "-m", "models:/churn@champion", "--input", str(source), "--output", str(out),
                 "--batch-rows", "2")
    assert result.exit_code == 0, result.output
    from deltalake import DeltaTable

    scored = DeltaTable(str(out)).to_pandas()
    assert len(scored) == 3 and scored["model_version"].unique().tolist() == ["models:/churn/1"]


def test_score_batch_refuses_bad_input_clearly(logged, tmp_path) -> None:
    source = tmp_path / "bad.parquet"
    pd.DataFrame({"event_ts": [ts(1)]}).to_parquet(source)
    result = run("models", "score-batch", "-m", "models:/churn/1", "--input", str(source),
                 "--output", str(tmp_path / "o.parquet"))
    assert result.exit_code == 1
    assert "no column 'customer_id'" in result.output and "Traceback" not in result.output


def test_publish_then_describe_shows_the_online_store(fc, customer_features, redis_uri) -> None:
    fc.create_table("churn.cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    result = run("features", "publish", "churn.cf", "--online", redis_uri)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] == 2
    again = json.loads(run("features", "publish", "churn.cf", "--online", redis_uri).stdout)
    assert again["written"] == 0
    described = json.loads(run("features", "describe", "churn.cf").stdout)["feature_table"]
    assert [(p["online_store"], p["version"]) for p in described["online_stores"]] == [(redis_uri, 0)]
