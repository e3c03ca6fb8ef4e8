"""Feast's side of bench/features.py, run with bench/.venv-feast's python:

    python _features_feast.py FEATURES.parquet LABELS.parquet OUT.parquet WORKDIR

Registers the feature Parquet file as a FileSource feature view (local provider, file offline
store), runs ``get_historical_features`` for the labels and writes the result. Prints one JSON line
``{"seconds": ..., "rows": ...}`` (the timed part is ``get_historical_features(...).to_df()``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def main() -> None:
    features, labels, out, work = (Path(a) for a in sys.argv[1:5])
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.types import Float64

    work.mkdir(parents=True, exist_ok=True)
    names = [n for n in pq.read_schema(features).names if n.startswith("f")]
    config = RepoConfig(
        project="bench", registry=str(work / "registry.db"), provider="local",
        online_store=SqliteOnlineStoreConfig(path=str(work / "online.db")), entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    entity = Entity(name="key", join_keys=["key"], value_type=ValueType.INT64)
    source = FileSource(path=str(features), timestamp_field="ts")
    view = FeatureView(name="series", entities=[entity], ttl=timedelta(days=36500),
                       schema=[Field(name=n, dtype=Float64) for n in names], source=source)
    store.apply([entity, view])
    entity_df = pd.read_parquet(labels).rename(columns={"event_ts": "event_timestamp"})
    start = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=[f"series:{n}" for n in names]).to_df()
    seconds = time.perf_counter() - start
    df.to_parquet(out)
    print(json.dumps({"seconds": seconds, "rows": len(df)}))


if __name__ == "__main__":
    main()
