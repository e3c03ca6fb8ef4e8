"""FeatureClient with an http:// tracking URI: the catalog through the server's REST API, the data in
the Delta table at the location the server chose."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from features_helpers import ts

from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.features import FeatureClient, FeatureLookup


def test_feature_client_over_rest(live_server, customer_features) -> None:
    fc = FeatureClient(live_server)
    name = f"rest_{uuid.uuid4().hex[:8]}.cf"
    table = fc.create_table(name, primary_keys="customer_id", timestamp_keys="ts", df=customer_features,
                            tags={"team": "growth"})
    assert "/feature-tables/" in table.location and not table.location.startswith("mlflow-artifacts:")
    with pytest.raises(ResourceAlreadyExists):
        fc.create_table(name, primary_keys="customer_id", timestamp_keys="ts", df=customer_features)
    fc.write_table(name, customer_features.assign(purchases=customer_features.purchases * 10))
    assert fc.get_table(name).current_version == 1
    assert name in [t.name for t in fc.list_tables(name_like="rest_%")]
    labels = pd.DataFrame({"customer_id": [1, 2], "event_ts": [ts(10), ts(4)]})
    df = fc.create_training_set(labels, [FeatureLookup(name, lookup_key="customer_id", timestamp_lookup_key="event_ts")]).load_df()
    assert df["purchases"].tolist()[0] == 70 and pd.isna(df["purchases"].iloc[1])
    fc.set_table_tag(name, "tier", "1")
    assert fc.get_table(name).tags == {"team": "growth", "tier": "1"}
    fc.drop_table(name)
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        fc.get_table(name)


def test_table_data_through_the_server(live_server, customer_features) -> None:
    """A client that cannot reach the table files: rows go to and come from the server as Arrow IPC."""
    fc = FeatureClient(live_server, data_via_server=True)
    name = f"ipc_{uuid.uuid4().hex[:8]}.cf"
    table = fc.create_table(name, primary_keys="customer_id", timestamp_keys="ts", df=customer_features,
                            description="via server", tags={"team": "growth"})
    assert table.current_version == 0 and table.tags == {"team": "growth"} and table.description == "via server"
    fc.write_table(name, customer_features.assign(purchases=0))
    rows = fc.read_table(name).sort_values(["customer_id", "ts"])
    assert rows["purchases"].tolist() == [0, 0, 0]
    assert fc.read_table(name, as_of_version=0, columns=["purchases"]).sort_values("purchases")["purchases"].tolist() == [1, 3, 7]
    assert [h["version"] for h in fc.history(name)] == [1, 0]
    with pytest.raises(InvalidParameterValue, match="'customer_id' has 1 null"):
        fc.write_table(name, pd.DataFrame({"customer_id": [None], "ts": [ts(1)], "purchases": [1], "spend": [1.0]}))
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        fc.read_table(name + "x")
    fc.drop_table(name)
    with pytest.raises(ResourceDoesNotExist):
        fc.get_table(name)


def test_big_table_streams_in_batches(live_server) -> None:
    fc = FeatureClient(live_server, data_via_server=True)
    name = f"ipc_{uuid.uuid4().hex[:8]}.big"
    n = 200_000
    fc.create_table(name, primary_keys="id", df=pd.DataFrame({"id": range(n), "x": [0.5] * n}))
    schema, batches = fc.tables.batches(name)
    sizes = [b.num_rows for b in batches]
    assert sum(sizes) == n and len(sizes) > 1 and schema.names == ["id", "x"]
    fc.drop_table(name)
