"""FeatureClient with an http:// tracking URI: the catalog through the server's REST API, the data in
the Delta table at the location the server chose."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from features_helpers import ts

from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist
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
