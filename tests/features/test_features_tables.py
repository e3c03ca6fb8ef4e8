"""Feature tables through FeatureClient: Delta versions, time travel, merge/overwrite, and the
checks that refuse a batch before anything is written."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from features_helpers import ts

from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist


def test_create_describe_and_read(fc, customer_features) -> None:
    table = fc.create_table("churn.customer_features", primary_keys="customer_id", timestamp_keys="ts",
                            df=customer_features, description="30-day aggregates", tags={"team": "growth"})
    assert table.primary_keys == ("customer_id",) and table.timestamp_keys == ("ts",)
    assert table.feature_names == ("purchases", "spend")
    assert table.current_version == 0 and table.description == "30-day aggregates"
    assert table.tags == {"team": "growth"} and table.creator
    assert Path(table.location, "_delta_log").is_dir()
    assert [t.name for t in fc.list_tables()] == ["churn.customer_features"]
    back = fc.read_table("churn.customer_features").sort_values(["customer_id", "ts"]).reset_index(drop=True)
    assert back["purchases"].tolist() == [3, 7, 1]
    assert back["ts"].tolist() == [ts(0), ts(10), ts(5)]


def test_same_name_twice_is_refused(fc, customer_features) -> None:
    fc.create_table("t", primary_keys=["customer_id"], timestamp_keys=["ts"], df=customer_features)
    with pytest.raises(ResourceAlreadyExists, match="'t' already exists"):
        fc.create_table("t", primary_keys=["customer_id"], timestamp_keys=["ts"], df=customer_features)


@pytest.mark.parametrize("name", ["", "a/b", "../x", "a..b", ".hidden", "x" * 300, "a b"])
def test_bad_names_are_refused(fc, customer_features, name) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid feature table name"):
        fc.create_table(name, primary_keys="customer_id", df=customer_features)


def test_merge_upserts_and_makes_a_version(fc) -> None:
    fc.create_table("users", primary_keys="id", df=pd.DataFrame({"id": [1, 2], "score": [0.1, 0.2]}))
    table = fc.write_table("users", pd.DataFrame({"id": [2, 3], "score": [0.25, 0.3]}), mode="merge")
    assert table.current_version == 1
    now = fc.read_table("users").sort_values("id")
    assert now["score"].tolist() == [0.1, 0.25, 0.3]
    then = fc.read_table("users", as_of_version=0).sort_values("id")
    assert then["score"].tolist() == [0.1, 0.2]
    assert [h["version"] for h in fc.history("users")] == [1, 0]


def test_time_series_merge_uses_timestamp_keys(fc, customer_features) -> None:
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    new = pd.DataFrame({"customer_id": [1, 1], "ts": [ts(10), ts(20)], "purchases": [8, 9], "spend": [80.0, 90.0]})
    fc.write_table("cf", new)
    rows = fc.read_table("cf").sort_values(["customer_id", "ts"])
    assert rows["purchases"].tolist() == [3, 8, 9, 1]  # day 10 replaced, day 20 added


def test_overwrite_replaces_rows(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1, 2], "score": [0.1, 0.2]}))
    fc.write_table("u", pd.DataFrame({"id": [9], "score": [0.9]}), mode="overwrite")
    assert fc.read_table("u")["id"].tolist() == [9]
    assert fc.read_table("u", as_of_version=0)["id"].tolist() == [1, 2]


def test_read_as_of_timestamp(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [0.1]}))
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    fc.write_table("u", pd.DataFrame({"id": [1], "score": [0.5]}))
    assert fc.read_table("u", as_of_timestamp=between)["score"].tolist() == [0.1]
    assert fc.read_table("u")["score"].tolist() == [0.5]


def test_null_key_refused_and_nothing_written(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1.0], "score": [0.1]}))
    with pytest.raises(InvalidParameterValue, match="'id' has 1 null"):
        fc.write_table("u", pd.DataFrame({"id": [2.0, None], "score": [0.2, 0.3]}))
    assert fc.get_table("u").current_version == 0
    assert [h["version"] for h in fc.history("u")] == [0]


def test_duplicate_keys_in_batch_refused(fc, customer_features) -> None:
    dup = pd.concat([customer_features, customer_features.iloc[:1]])
    with pytest.raises(InvalidParameterValue, match=r"1 key\(s\) appear more than once.*customer_id"):
        fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=dup)
    with pytest.raises(ResourceDoesNotExist):
        fc.get_table("cf")


def test_breaking_type_change_refused_naming_column(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [1]}))
    with pytest.raises(InvalidParameterValue, match="Column 'score' is stored as int64"):
        fc.write_table("u", pd.DataFrame({"id": [2], "score": ["high"]}))
    assert fc.get_table("u").current_version == 0


def test_dropped_column_refused_naming_it(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [1.0], "age": [3]}))
    with pytest.raises(InvalidParameterValue, match="no column 'age'"):
        fc.write_table("u", pd.DataFrame({"id": [2], "score": [2.0]}), mode="overwrite")


def test_added_column_and_safe_cast_are_accepted(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [1.0]}))
    table = fc.write_table("u", pd.DataFrame({"id": [2], "score": [2], "extra": ["x"]}))
    assert [c.name for c in table.columns] == ["id", "score", "extra"]
    rows = fc.read_table("u").sort_values("id")
    assert rows["score"].tolist() == [1.0, 2.0] and rows["extra"].tolist()[1] == "x"


def test_timestamp_key_must_be_a_time(fc) -> None:
    with pytest.raises(InvalidParameterValue, match="Timestamp key 'day' must be a timestamp"):
        fc.create_table("u", primary_keys="id", timestamp_keys="day", df=pd.DataFrame({"id": [1], "day": [3]}))


def test_write_mode_checked(fc) -> None:
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [1.0]}))
    with pytest.raises(InvalidParameterValue, match="mode must be one of merge, overwrite"):
        fc.write_table("u", pd.DataFrame({"id": [1], "score": [1.0]}), mode="append")


def test_drop_removes_entry_and_files(fc) -> None:
    table = fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [1], "score": [1.0]}))
    fc.drop_table("u")
    assert not Path(table.location).exists()
    with pytest.raises(ResourceDoesNotExist, match="Feature table 'u' does not exist"):
        fc.read_table("u")
    fc.create_table("u", primary_keys="id", df=pd.DataFrame({"id": [5], "score": [1.0]}))
    assert fc.read_table("u")["id"].tolist() == [5]


def test_create_empty_from_schema(fc) -> None:
    import pyarrow as pa

    fc.create_table("e", primary_keys="id", schema=pa.schema([("id", pa.int64()), ("x", pa.float64())]))
    assert fc.read_table("e").empty
    fc.write_table("e", pd.DataFrame({"id": [1], "x": [2.0]}))
    assert fc.read_table("e")["x"].tolist() == [2.0]


def test_time_series_files_are_written_in_key_and_time_order(fc) -> None:
    """Create, overwrite and merge write a time series' rows sorted by key then time (what the as-of
    join sorts by), whatever the input order; a table without timestamp keys is written as given."""
    import pyarrow.parquet as pq

    from modelyard.features import delta

    def stored(name: str, version: int | None = None) -> list[tuple]:
        table = fc.get_table(name)
        files = delta.local_files(table.location, version)
        rows = []
        for f in files:  # each file in order (the order of files does not matter)
            part = pq.read_table(f).to_pydict()
            rows.append(list(zip(part["k"], part["ts"], strict=True)))
        return rows

    shuffled = pd.DataFrame({"k": [3, 1, 2, 1, 3, 2], "ts": [ts(5), ts(9), ts(1), ts(2), ts(0), ts(7)],
                             "v": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    fc.create_table("ordered", primary_keys="k", timestamp_keys="ts", df=shuffled)
    for part in stored("ordered"):
        assert part == sorted(part)
    assert sum(len(p) for p in stored("ordered")) == 6
    fc.write_table("ordered", shuffled.iloc[::-1].assign(v=0.0), mode="overwrite")
    for part in stored("ordered"):
        assert part == sorted(part)
    fc.write_table("ordered", pd.DataFrame({"k": [9, 0, 5], "ts": [ts(3), ts(8), ts(1)], "v": [7.0, 8.0, 9.0]}))
    parts = stored("ordered")
    assert sum(len(p) for p in parts) == 9
    for part in parts:
        assert part == sorted(part)
    plain = pd.DataFrame({"k": [3, 1, 2], "v": [1.0, 2.0, 3.0]})
    fc.create_table("plain", primary_keys="k", df=plain)
    assert fc.read_table("plain")["k"].tolist() == [3, 1, 2]
