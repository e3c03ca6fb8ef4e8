"""publish_table into a real Redis server and a SQL database; incremental publishes; lookups."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.exceptions import InvalidParameterValue


@pytest.fixture(params=["redis", "sql"])
def online_store(request, tmp_path):
    if request.param == "redis":
        return request.getfixturevalue("redis_uri")
    return f"sqlite:///{tmp_path / 'online.db'}"


def test_publish_incremental_and_lookup(fc, customer_features, online_store) -> None:
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    first = fc.publish_table("cf", online_store)
    assert (first["written"], first["deleted"], first["since_version"]) == (2, 0, None)
    assert fc.lookup_features("cf", [1, 2, 3]) == [{"purchases": 7, "spend": 75.5}, {"purchases": 1, "spend": 9.9}, None]
    again = fc.publish_table("cf", online_store)
    assert (again["written"], again["deleted"]) == (0, 0)
    changed = customer_features.iloc[[2]].assign(purchases=5)  # customer 2 only
    fc.write_table("cf", pd.concat([changed, changed.assign(customer_id=4)]))
    third = fc.publish_table("cf", online_store)
    assert (third["written"], third["since_version"], third["version"]) == (2, 0, 1)
    assert fc.lookup_features("cf", ["2", 4], features=["purchases"]) == [{"purchases": 5}, {"purchases": 5}]
    fc.write_table("cf", customer_features[customer_features.customer_id == 1], mode="overwrite")
    fourth = fc.publish_table("cf", online_store)
    assert fourth["deleted"] == 2  # customers 2 and 4 are gone
    assert fc.lookup_features("cf", [2, 4]) == [None, None]
    published = fc.get_table("cf").online_stores
    assert [(p.online_store, p.version) for p in published] == [(online_store, 2)]


def test_lookup_needs_a_publish_and_a_valid_key(fc, customer_features, online_store) -> None:
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    with pytest.raises(InvalidParameterValue, match="never published"):
        fc.lookup_features("cf", [1])
    fc.publish_table("cf", online_store)
    with pytest.raises(InvalidParameterValue, match="Key 'customer_id' of feature table 'cf' must be int64"):
        fc.lookup_features("cf", ["x"])


def test_unknown_online_store(fc, customer_features) -> None:
    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    with pytest.raises(InvalidParameterValue, match="Unknown online store"):
        fc.publish_table("cf", "ftp://x")


def test_read_many_answers_several_tables_at_once(fc, customer_features, online_store) -> None:
    """What serving uses: the keys of every table of a model in one call (one round trip on Redis);
    a single missing key, a key of one table only, and a feature the store never had."""
    from modelyard.features.online import open_store

    fc.create_table("cf", primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    fc.create_table("profile", primary_keys="customer_id", df=pd.DataFrame({"customer_id": [1, 3], "age": [30.0, None]}))
    fc.publish_table("cf", online_store)
    fc.publish_table("profile", online_store)
    store = open_store(online_store)
    try:
        assert store.read_many([("cf", ["[2]", "[3]"], ["purchases"]), ("profile", ["[3]"], ["age", "height"])]) == [
            [{"purchases": 1}, None],
            [{"age": None, "height": None}],  # the row exists; its null and an unknown feature read as None
        ]
        assert store.read_many([("profile", ["[9]"], ["age"])]) == [[None]]
        assert store.read("cf", ["[1]"], ["spend"]) == [{"spend": 75.5}]
    finally:
        store.close()


def test_key_strings_fast_path_matches_the_arrow_cast() -> None:
    """Plain ints for an int64 key and strs for a string key skip Arrow; every other value goes
    through the cast, with the same encoding and the same refusals."""
    from modelyard.entities.feature_table import FeatureColumn, FeatureTable
    from modelyard.features.publish import key_strings

    def table(dtype: str) -> FeatureTable:
        return FeatureTable(name="t", primary_keys=("k",), timestamp_keys=(), columns=(FeatureColumn("k", dtype, False),
                            FeatureColumn("v", "double", True)), location="/nowhere", current_version=0,
                            creation_time=0, last_updated_time=0)

    ints = table("int64")
    assert key_strings(ints, [(1,), (-7,), (2**63 - 1,)]) == ["[1]", "[-7]", "[9223372036854775807]"]
    assert key_strings(ints, [("2",), (3,)]) == ["[2]", "[3]"]  # mixed: cast one by one
    import numpy as np

    assert key_strings(ints, [(np.int64(4),)]) == ["[4]"]
    for bad in ([("x",)], [(2**63,)]):
        with pytest.raises(InvalidParameterValue, match="must be int64"):
            key_strings(ints, bad)
    assert key_strings(table("string"), [("a",), ("b\"c",)]) == ['["a"]', '["b\\"c"]']
    assert key_strings(table("int32"), [(5,)]) == ["[5]"]
