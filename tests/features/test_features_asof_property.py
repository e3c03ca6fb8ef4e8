"""The point-in-time join against a naive reference, on random tables with ties (a label at exactly a
feature row's time), gaps (keys and times with no row), null keys/times/values and unsorted input."""

from __future__ import annotations

import tempfile
from datetime import timedelta

import pyarrow as pa
from features_helpers import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.features import delta, join
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
       gathered=st.booleans())
def test_asof_join_matches_naive_reference(features, labels, default, gathered) -> None:
    items = list(features.items())
    table = pa.table({
        "k": pa.array([k for (k, _), _ in items], pa.int64()),
        "ts": pa.array([day(d) for (_, d), _ in items], pa.timestamp("us", "UTC")),
        "v": pa.array([v for _, v in items], pa.int64()),
    })
    left = pa.table({
        "key": pa.array([k for k, _ in labels], pa.int64()),
        "at": pa.array([day(t) for _, t in labels], pa.timestamp("us", "UTC")),
        "pos": pa.array(range(len(labels)), pa.int64()),
    })
    with tempfile.TemporaryDirectory() as tmp:
        delta.create(tmp + "/t", table)
        lookup = ResolvedLookup(
            table_name="t", table_version=0, location=tmp + "/t", primary_keys=("k",), lookup_key=("key",),
            features=(FeatureOutput("v", "value", default),), timestamp_key="ts", timestamp_lookup_key="at",
        )
        con = join.connect()
        if gathered:  # the in-memory path of training sets
            got, counts = join.gather(con, left, [lookup])
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
