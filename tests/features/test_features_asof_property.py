"""The point-in-time join against a naive reference, on random tables with ties (a label at exactly a
feature row's time), gaps (keys and times with no row), null keys/times/values and unsorted input;
the table written in key and time order (as tables are: ``join.gather`` then joins without a sort) or not, one or
two key columns (two: ``join.gather`` joins in DuckDB) and label times in a coarser or finer unit than the table's."""

from __future__ import annotations

import tempfile
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
from features_helpers import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.features import FeatureLookup, delta, join
from modelyard.features.spec import FeatureOutput, ResolvedLookup

feature_rows = st.dictionaries(
    keys=st.tuples(st.integers(0, 4), st.integers(0, 20)),  # (key, day): unique, as the table guarantees
    values=st.one_of(st.none(), st.integers(-100, 100)),
    max_size=30,
)
label_rows = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.integers(-1, 22))),
    max_size=30,
)


def day(d: int | None):
    return None if d is None else T0 + timedelta(days=d)


def naive(features: dict, labels: list, default: int | None) -> list:
    out = []
    for key, t in labels:
        best = None
        if key is not None and t is not None:
            candidates = [(d, v) for (k, d), v in features.items() if k == key and d <= t]
            if candidates:
                best = max(candidates)
        value = best[1] if best is not None else None
        out.append(default if value is None and default is not None else value)
    return out


@settings(max_examples=100, deadline=None)
@given(features=feature_rows, labels=label_rows, default=st.one_of(st.none(), st.integers(1000, 1001)),
       gathered=st.booleans(), in_order=st.booleans(), unit=st.sampled_from(["s", "us", "ns"]), two_keys=st.booleans())
def test_asof_join_matches_naive_reference(features, labels, default, gathered, in_order, unit, two_keys) -> None:
    items = list(features.items())
    table = pa.table({
        "k": pa.array([k for (k, _), _ in items], pa.int64()),
        "ts": pa.array([day(d) for (_, d), _ in items], pa.timestamp("us", "UTC")),
        "v": pa.array([v for _, v in items], pa.int64()),
    })
    left = pa.table({
        "key": pa.array([k for k, _ in labels], pa.int64()),
        "at": pa.array([day(t) for _, t in labels], pa.timestamp("us", "UTC")).cast(pa.timestamp(unit, "UTC")),
        "pos": pa.array(range(len(labels)), pa.int64()),
    })
    keys, mine = ("k",), ("key",)
    if two_keys:  # a second key column, equal to the first in every row
        table, left = table.append_column("k2", table.column("k")), left.append_column("key2", left.column("key"))
        keys, mine = ("k", "k2"), ("key", "key2")
    with tempfile.TemporaryDirectory() as tmp:
        delta.create(tmp + "/t", delta.sorted_by(table, (*keys, "ts")) if in_order else table)
        lookup = ResolvedLookup(
            table_name="t", table_version=0, location=tmp + "/t", primary_keys=keys, lookup_key=mine,
            features=(FeatureOutput("v", "value", default),), timestamp_key="ts", timestamp_lookup_key="at",
        )
        con = join.connect()
        if gathered:  # the in-memory path of training sets
            got, counts = join.gather(None, left, [lookup])  # a DuckDB connection opened only if needed
        else:  # the streamed path of score_batch
            batches, _, counts = join.run(con, left, [lookup])
            parts = list(batches)
            got = pa.concat_tables(parts) if parts else None
        con.close()
    expected = naive(features, labels, default)
    if not labels:
        assert got is None or got.num_rows == 0
        return
    assert got.column("pos").to_pylist() == list(range(len(labels)))  # input order kept
    assert got.column("value").to_pylist() == expected
    matched = sum(
        1 for k, t in labels
        if k is not None and t is not None and any(kk == k and d <= t for (kk, d) in features)
    )
    assert counts == {"t": matched}


def _lookup(location: str, keys: tuple[str, ...] = ("k",), ts: str | None = "ts", at: str | None = "at") -> ResolvedLookup:
    return ResolvedLookup(
        table_name="t", table_version=0, location=location, primary_keys=keys, lookup_key=("key",),
        features=(FeatureOutput("v", "value", None),), timestamp_key=ts, timestamp_lookup_key=at,
    )


def _joined(left: pa.Table, lookup: ResolvedLookup, *, gathered: bool) -> list:
    con = join.connect()
    try:
        if gathered:
            return join.gather(con, left, [lookup])[0].column("value").to_pylist()
        return pa.concat_tables(list(join.run(con, left, [lookup])[0])).column("value").to_pylist()
    finally:
        con.close()


def test_sorted_table_joins_without_duckdb_as_duckdb_does(tmp_path) -> None:
    """String keys, label times in nanoseconds a nanosecond around the table's microsecond rows, a key
    the table lacks: the sort-free path (taken: the table is in key and time order) agrees with
    DuckDB's ASOF join, and a table not in order falls back to DuckDB."""
    at = pa.array([T0 + timedelta(minutes=m) for m in (0, 0, 5, 5, 9)], pa.timestamp("us", "UTC"))
    table = delta.sorted_by(pa.table({"k": ["a", "b", "a", "b", "a"], "ts": at, "v": [1, 2, 3, 4, 5]}), ("k", "ts"))
    delta.create(str(tmp_path / "t"), table)
    base = pa.array([T0 + timedelta(minutes=m) for m in (5, 5, 0, 9, 9, 1, 5)], pa.timestamp("us", "UTC"))
    nanos = pc.add(base.cast(pa.timestamp("ns", "UTC")).cast(pa.int64()), pa.array([-1, 0, 999, -1, 1, 0, 0]))
    left = pa.table({"key": ["a", "a", "b", "a", "a", None, "c"], "at": nanos.cast(pa.timestamp("ns", "UTC"))})
    lookup = _lookup(str(tmp_path / "t"))
    assert join._positions(left, lookup, delta.dataset(lookup.location).to_table()) is not None
    assert _joined(left, lookup, gathered=True) == _joined(left, lookup, gathered=False) == [1, 3, 2, 3, 5, None, None]
    delta.create(str(tmp_path / "u"), table.take([4, 0, 1, 2, 3]))  # not grouped by key: sorted by Arrow
    unordered = _lookup(str(tmp_path / "u"))
    assert join._positions(left, unordered, delta.dataset(unordered.location).to_table()) is not None
    assert _joined(left, unordered, gathered=True) == [1, 3, 2, 3, 5, None, None]


def test_latest_row_and_plain_key_lookups_without_duckdb(tmp_path) -> None:
    """A time series looked up without a time takes each key's latest row; a table without a
    timestamp key joins on its key; an input key of another integer width still matches."""
    at = pa.array([T0 + timedelta(days=d) for d in (1, 2, 1, 3)], pa.timestamp("us", "UTC"))
    series = delta.sorted_by(pa.table({"k": [1, 1, 2, 2], "ts": at, "v": [10, 11, 20, 21]}), ("k", "ts"))
    delta.create(str(tmp_path / "s"), series)
    delta.create(str(tmp_path / "p"), pa.table({"k": [2, 1], "v": [200, 100]}))
    left = pa.table({"key": pa.array([2, 3, 1, None], pa.int32())})
    latest, plain = _lookup(str(tmp_path / "s"), at=None), _lookup(str(tmp_path / "p"), ts=None, at=None)
    for lookup, expected in ((latest, [21, None, 11, None]), (plain, [200, None, 100, None])):
        assert join._positions(left, lookup, delta.dataset(lookup.location).to_table()) is not None
        assert _joined(left, lookup, gathered=True) == _joined(left, lookup, gathered=False) == expected


def test_training_set_after_merge_with_added_column(fc) -> None:
    """A merge writes rows out of key order and adds a column the first file lacks: the training set
    still takes each label's latest row at or before its time, with null where a file had no value."""
    import pandas as pd

    days = pd.to_datetime([T0 + timedelta(days=d) for d in (0, 2, 0, 4)], utc=True)
    fc.create_table("s", primary_keys="k", timestamp_keys="ts",
                    df=pd.DataFrame({"k": [1, 1, 2, 2], "ts": days, "v": [10, 12, 20, 24]}))
    more = pd.to_datetime([T0 + timedelta(days=d) for d in (3, 1)], utc=True)
    fc.write_table("s", pd.DataFrame({"k": [2, 1], "ts": more, "v": [23, 11], "extra": ["b", "a"]}))
    at = pd.to_datetime([T0 + timedelta(days=d) for d in (1, 3, 3, 5, 2)], utc=True)
    labels = pd.DataFrame({"k": [1, 1, 2, 2, 3], "at": at, "y": [0, 1, 0, 1, 0]})
    rows = fc.create_training_set(labels, [FeatureLookup("s", lookup_key="k", timestamp_lookup_key="at")], label="y").load_df()
    assert rows["v"].tolist()[:4] == [11, 12, 23, 24] and pd.isna(rows["v"].iloc[4])
    assert rows["extra"].isna().tolist() == [False, True, False, True, True]
    assert rows["extra"].tolist()[0] == "a" and rows["extra"].tolist()[2] == "b"
