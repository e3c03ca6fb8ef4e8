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
