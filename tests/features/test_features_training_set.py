"""create_training_set / load_df: point-in-time correct features, renames, defaults, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest
from features_helpers import ts

from modelyard.exceptions import InvalidParameterValue
from modelyard.features import FeatureLookup


@pytest.fixture
def tables(fc, customer_features):
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    fc.create_table("profile", primary_keys="customer_id",
                    df=pd.DataFrame({"customer_id": [1, 2], "age": [30, 40], "region": ["eu", "us"]}))
    return fc


def labels() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 1, 1, 2, 3],
        "event_ts": [ts(-1), ts(0), ts(9.5), ts(30), ts(1)],
        "churned": [0, 1, 0, 1, 0],
    })


def test_point_in_time_never_uses_future_rows(tables) -> None:
    training = tables.create_training_set(
        labels(), [FeatureLookup("cf", lookup_key="customer_id", timestamp_lookup_key="event_ts")],
        label="churned", exclude_columns=["event_ts"],
    )
    df = training.load_df()
    assert df.columns.tolist() == ["customer_id", "churned", "purchases", "spend"]
    # day -1: nothing yet; day 0: the day-0 row (ties count); day 9.5: still day 0; cust 2 day 30: day 5; cust 3: none
    assert df["purchases"].tolist()[1:4] == [3, 3, 1]
    assert df["purchases"].isna().tolist() == [True, False, False, False, True]
    assert training.feature_spec.input_columns == ("customer_id", "purchases", "spend")


def test_several_lookups_renames_and_defaults(tables) -> None:
    lookups = [
        FeatureLookup("cf", feature_names=["spend"], lookup_key="customer_id", timestamp_lookup_key="event_ts",
                      rename_outputs={"spend": "spend_30d"}, default_values={"spend": 0.0}),
        FeatureLookup("profile", lookup_key=["customer_id"], default_values={"age": -1}),
    ]
    df = tables.create_training_set(labels(), lookups, label="churned").load_df()
    assert df.columns.tolist() == ["customer_id", "event_ts", "churned", "spend_30d", "age", "region"]
    assert df["spend_30d"].tolist() == [0.0, 30.0, 30.0, 9.9, 0.0]
    assert df["age"].tolist() == [30, 30, 30, 40, -1]
    assert df["region"].tolist()[:4] == ["eu", "eu", "eu", "us"] and pd.isna(df["region"].iloc[4])


def test_time_series_without_timestamp_gets_latest_row(tables) -> None:
    df = tables.create_training_set(labels(), [FeatureLookup("cf", lookup_key="customer_id")]).load_df()
    assert df["purchases"].tolist()[:4] == [7, 7, 7, 1]


def test_training_set_reads_the_version_it_was_made_with(tables) -> None:
    training = tables.create_training_set(labels(), [FeatureLookup("profile", lookup_key="customer_id")])
    tables.write_table("profile", pd.DataFrame({"customer_id": [1], "age": [99], "region": ["eu"]}))
    assert training.load_df()["age"].tolist()[:3] == [30, 30, 30]
    assert training.feature_spec.lookups[0].table_version == 0


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (FeatureLookup("cf", lookup_key="nope", timestamp_lookup_key="event_ts"), "no column 'nope'"),
        (FeatureLookup("cf", lookup_key="customer_id", timestamp_lookup_key="when"), "no column 'when'"),
        (FeatureLookup("cf", lookup_key="customer_id", timestamp_lookup_key="churned"), "needs a timestamp"),
        (FeatureLookup("cf", feature_names=["x"], lookup_key="customer_id"), "has no feature 'x'"),
        (FeatureLookup("profile", lookup_key="customer_id", timestamp_lookup_key="event_ts"), "has no timestamp key"),
        (FeatureLookup("cf", lookup_key=["customer_id", "churned"]), "primary keys"),
    ],
)
def test_bad_lookups_are_refused(tables, lookup, message) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        tables.create_training_set(labels(), [lookup], label="churned")


def test_output_collision_is_refused(tables) -> None:
    frame = labels().assign(age=1)
    with pytest.raises(InvalidParameterValue, match="column 'age', which the input already has"):
        tables.create_training_set(frame, [FeatureLookup("profile", lookup_key="customer_id")])


def test_key_type_mismatch_is_refused(tables) -> None:
    frame = labels().assign(customer_id=lambda d: d.customer_id.astype(str))
    with pytest.raises(InvalidParameterValue, match="Lookup key 'customer_id' is"):
        tables.create_training_set(frame, [FeatureLookup("profile", lookup_key="customer_id")])
