"""Online values read back as the Python values of their column types: every type a feature table
holds round-trips through publish -> lookup on Redis and on a SQL store; nulls, rows without a key,
and ``OnlineTable``'s refusals; the serving enricher's float64 block and its general path."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from modelyard.exceptions import InvalidParameterValue

STRUCT = pa.struct([("a", pa.int64()), ("t", pa.timestamp("us", "UTC"))])
ROWS = pa.table({
    "k": pa.array([1, 2, 3], pa.int64()),
    "i8": pa.array([-5, None, 7], pa.int8()),
    "i16": pa.array([300, None, 1], pa.int16()),
    "i32": pa.array([70000, None, 1], pa.int32()),
    "i64": pa.array([2**62, None, -1], pa.int64()),
    "f32": pa.array([0.1, None, float("nan")], pa.float32()),
    "f64": pa.array([1.5, None, float("-inf")], pa.float64()),
    "b": pa.array([True, None, False]),
    "s": pa.array(['a "quoted" \\ é\n日本', None, ""]),
    "ts": pa.array([datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, datetime(1970, 1, 1, tzinfo=UTC)],
                   pa.timestamp("us", "UTC")),
    "ntz": pa.array([datetime(2026, 1, 2, 3, 4, 5), None, datetime(2000, 1, 1)], pa.timestamp("us")),
    "d": pa.array([date(2026, 2, 3), None, date(1, 1, 1)]),
    "dec": pa.array([Decimal("12.34"), None, Decimal("-0.01")], pa.decimal128(10, 2)),
    "bin": pa.array([b"\x00\xffab", None, b""]),
    "ld": pa.array([[1.0, None, 2.5], None, []], pa.list_(pa.float64())),
    "ls": pa.array([["x", 'y"'], None, []], pa.list_(pa.string())),
    "st": pa.array([{"a": 1, "t": datetime(2026, 1, 1, tzinfo=UTC)}, None, {"a": None, "t": None}], STRUCT),
    "m": pa.array([[("a", 1.0), ("b", None)], None, []], pa.map_(pa.string(), pa.float64())),
})
FEATURES = [n for n in ROWS.column_names if n != "k"]


@pytest.fixture(params=["redis", "sql"])
def online_store(request, tmp_path):
    if request.param == "redis":
        return request.getfixturevalue("redis_uri")
    return f"sqlite:///{tmp_path / 'online.db'}"


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN and the same Python type at every level."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and (not isinstance(a, datetime) or a.utcoffset() == b.utcoffset())


def expected() -> dict[int, dict]:
    return {row.pop("k"): row for row in ROWS.to_pylist()}


def test_every_column_type_round_trips(fc, online_store) -> None:
    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.publish_table("t", online_store)
    want = expected()
    table = fc.online_table("t")
    for key in (1, 3):
        got = table.get(key)
        assert same(got, want[key]), {n: (got[n], want[key][n]) for n in FEATURES if not same(got[n], want[key][n])}
    row = table.get(1)
    assert type(row["dec"]) is Decimal and type(row["bin"]) is bytes and type(row["d"]) is date
    assert row["ts"].utcoffset().total_seconds() == 0 and row["ntz"].tzinfo is None
    assert row["m"] == [("a", 1.0), ("b", None)] and row["st"]["t"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert same(fc.lookup_features("t", [3, 1]), [want[3], want[1]])  # the catalog read each call
    assert same(table.get_many([1, 3]), [want[1], want[3]])


def test_nulls_and_keys_without_a_row(fc, online_store) -> None:
    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.publish_table("t", online_store)
    table = fc.online_table("t", features=["f64", "s", "ts"])
    assert table.get(2) == {"f64": None, "s": None, "ts": None}  # the row exists, every value null
    assert table.get(9) is None
    assert table.get_many([2, 9, 1]) == [{"f64": None, "s": None, "ts": None}, None, table.get(1)]
    assert table.get_columns([1, 9, 2]) == {"f64": [1.5, None, None], "s": ['a "quoted" \\ é\n日本', None, None],
                                            "ts": [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, None]}
    assert table.get_columns([]) == {"f64": [], "s": [], "ts": []}
    assert table.get_many([]) == []


def test_online_table_refuses_unknown_features_and_keys_of_the_wrong_type(fc, redis_uri) -> None:
    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.create_table("pair", primary_keys=["a", "b"], df=pd.DataFrame({"a": [1, 1], "b": ["x", "y"], "v": [0.5, 1.5]}))
    fc.create_table("named", primary_keys="name", df=pd.DataFrame({"name": ["é", 'q"'], "v": [1, 2]}))
    for name in ("t", "pair", "named"):
        fc.publish_table(name, redis_uri)
    with pytest.raises(InvalidParameterValue, match="Feature table 't' has no feature 'nope'"):
        fc.online_table("t", features=["f64", "nope"])
    with pytest.raises(InvalidParameterValue, match="has no feature 'k'"):  # a key is no feature
        fc.online_table("t", features=["k"])
    table = fc.online_table("t", features=["i8"])
    with pytest.raises(InvalidParameterValue, match="Key 'k' of feature table 't' must be int64"):
        table.get("x")
    assert table.get("3") == {"i8": 7} and table.get(True) == {"i8": -5}  # cast as the catalog's key type
    pair = fc.online_table("pair")
    assert pair.get((1, "y")) == {"v": 1.5} and pair.get([1, "x"]) == {"v": 0.5} and pair.get((2, "x")) is None
    named = fc.online_table("named")
    assert named.get_many(["é", 'q"', "z"]) == [{"v": 1}, {"v": 2}, None]
    assert named.get("é") == {"v": 1}


def test_codecs_read_what_older_versions_wrote_and_escaped_strings() -> None:
    from modelyard.features.codec import codec, encode_value

    binary = codec(pa.binary())
    old = json.dumps(str(b"\x00'a\"")).encode()  # an older modelyard wrote Python's repr of the bytes
    assert binary.from_text(old) == b"\x00'a\""
    assert binary.from_text(encode_value(b"\x00\xff").encode()) == b"\x00\xff"
    text = codec(pa.string())
    for value in ("plain", 'quo"te', "back\\slash", "é日本", "tab\tnew\nline", ""):
        assert text.from_text(encode_value(value).encode()) == value
    floats = codec(pa.float64())
    assert math.isnan(floats.from_text(encode_value(float("nan")).encode()))
    assert floats.from_text(encode_value(float("inf")).encode()) == float("inf")
    assert floats.from_json(3) == 3.0 and type(floats.from_json(3)) is float
    paris = codec(pa.timestamp("us", "Europe/Paris")).from_text(b'"2026-06-01T10:00:00+00:00"')
    assert paris == datetime(2026, 6, 1, 10, tzinfo=UTC) and paris.utcoffset().total_seconds() == 7200
    assert codec(None).from_text(b'{"a":[1]}') == {"a": [1]}  # an unknown type: plain JSON


def test_enricher_builds_a_float64_block_or_the_general_frame(fc, logged, redis_uri) -> None:
    """Every model input a double: one float64 block (a null in the request is filled, a value kept);
    an int64 feature among them: the general frame, with the int column as before."""
    from modelyard.features import FeatureLookup
    from modelyard.features.serving import OnlineEnricher

    fc, _, _, _ = logged
    fc.publish_table("cf", redis_uri)
    fc.publish_table("profile", redis_uri)
    keys = pd.DataFrame({"customer_id": [1, 2]})
    doubles = fc.create_training_set(keys, [FeatureLookup("profile", lookup_key="customer_id")],
                                     exclude_columns=["customer_id"]).feature_spec
    enrich = OnlineEnricher(doubles, fc.tracking_uri)
    out = enrich(pd.DataFrame({"customer_id": [2, 1], "age": [None, 99.0]}, index=[7, 8]))
    assert out.to_dict("index") == {7: {"age": 40.0}, 8: {"age": 99.0}}
    assert out.dtypes.tolist() == ["float64"] and list(out.columns) == ["age"]
    signature, other = pd.Index(["age"]), pd.Index(["height"])  # the served signature's labels are taken
    assert enrich(pd.DataFrame({"customer_id": [1]}), signature).columns is signature
    assert list(enrich(pd.DataFrame({"customer_id": [1]}), other).columns) == ["age"]
    mixed = fc.create_training_set(keys, [FeatureLookup("cf", feature_names=["purchases", "spend"], lookup_key="customer_id"),
                                          FeatureLookup("profile", lookup_key="customer_id")],
                                   exclude_columns=["customer_id"]).feature_spec
    out = OnlineEnricher(mixed, fc.tracking_uri)(pd.DataFrame({"customer_id": [1, 2]}))
    assert out.to_dict("records") == [{"purchases": 7, "spend": 75.5, "age": 30.0}, {"purchases": 1, "spend": 9.9, "age": 40.0}]
    assert out.dtypes.astype(str).tolist() == ["int64", "float64", "float64"]


def test_a_dropped_connection_is_replaced_and_the_read_retried(fc, redis_uri) -> None:
    import redis

    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.publish_table("t", redis_uri)
    table = fc.online_table("t", features=["i8"])
    assert table.get(1) == {"i8": -5}
    conn = table.online_store._idle[-1].conn  # the pooled connection the read used
    conn.send_command("CLIENT", "ID")
    client_id = conn.read_response()
    admin = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        assert admin.client_kill_filter(_id=client_id) == 1  # the server drops that connection only
    finally:
        admin.close()
    assert table.get(3) == {"i8": 7}  # the broken connection is noticed, a new one reads
    conn = table.online_store._idle[-1].conn
    conn.send_command("CLIENT", "ID")
    assert conn.read_response() != client_id
    assert table.get_many([1, 9]) == [{"i8": -5}, None]


def test_all_float_lookups_take_one_map_and_fall_back_on_nulls(fc, online_store) -> None:
    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.publish_table("t", online_store)
    table = fc.online_table("t", features=["f32", "f64"])
    assert table.get(1) == {"f32": pytest.approx(0.1), "f64": 1.5}
    assert table.get(2) == {"f32": None, "f64": None}  # JSON nulls: the general decoding
    row = table.get(3)
    assert math.isnan(row["f32"]) and row["f64"] == float("-inf")
    assert table.get(9) is None
    assert [type(v) for v in table.get(1).values()] == [float, float]


def test_a_redis_error_answer_is_raised_and_the_connection_kept_usable(fc, redis_uri) -> None:
    import redis

    fc.create_table("t", primary_keys="k", df=ROWS)
    fc.publish_table("t", redis_uri)
    table = fc.online_table("t", features=["f64"])
    admin = redis.Redis.from_url(redis_uri.split("?")[0])
    try:
        name = table.online_store._key("t", table.key_text(1))
        admin.delete(name)
        admin.set(name, "not a hash")  # HMGET on a string: a WRONGTYPE error answer
        with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
            table.get(1)
        assert table.get(3) == {"f64": float("-inf")}  # the same pool answers the next read
        assert table.get_many([3, 9]) == [{"f64": float("-inf")}, None]
    finally:
        admin.close()
