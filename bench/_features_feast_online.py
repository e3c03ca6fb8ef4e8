"""Feast's online side of bench/features.py, run with bench/.venv-feast's python:

    python _features_feast_online.py PROFILE.parquet WORKDIR REDIS_CONNECTION PLAN.json

Registers the profile Parquet file (``key`` + features, no timestamp: one is added) as a feature
view with a Redis online store (``host:port,db=N``: the Redis modelyard's side uses), writes every
row to Redis with ``write_to_online_store``, then times ``get_online_features(...).to_dict()``:
single-key calls (one per key of ``PLAN["single"]``) and batch calls (each list of
``PLAN["batches"]`` is one call). The project is unique to the run and torn down at the end (its
Redis keys deleted). Prints one JSON line: the write time, per-call seconds (wall and this process's
CPU) of both kinds, and the
values of the first single-key call (checked against modelyard's by the bench).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd


def main() -> None:
    profile, work, connection, plan_path = sys.argv[1:5]
    work = Path(work)
    plan = json.loads(Path(plan_path).read_text())
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.types import Float64

    work.mkdir(parents=True, exist_ok=True)
    frame = pd.read_parquet(profile)
    names = [c for c in frame.columns if c != "key"]
    frame["ts"] = pd.Timestamp(datetime(2026, 1, 1, tzinfo=UTC))
    source_path = work / "profile_ts.parquet"
    frame.to_parquet(source_path)
    project = f"bench_{uuid.uuid4().hex[:8]}"
    config = RepoConfig(
        project=project,
        registry=str(work / "registry.db"),
        provider="local",
        online_store=RedisOnlineStoreConfig(connection_string=connection),
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    entity = Entity(name="key", join_keys=["key"], value_type=ValueType.INT64)
    view = FeatureView(
        name="profile",
        entities=[entity],
        ttl=timedelta(days=36500),
        schema=[Field(name=n, dtype=Float64) for n in names],
        source=FileSource(path=str(source_path), timestamp_field="ts"),
        online=True,
    )
    store.apply([entity, view])
    refs = [f"profile:{n}" for n in names]
    out: dict = {"feast_version": __import__("feast").__version__, "features": len(names)}
    try:
        start = time.perf_counter()
        store.write_to_online_store("profile", frame)
        out["write_s"] = time.perf_counter() - start
        for k in plan["single"][:50]:  # warm: the registry cache, the connection
            store.get_online_features(features=refs, entity_rows=[{"key": int(k)}]).to_dict()
        single, single_cpu, batch_cpu = [], [], []
        first = None
        for k in plan["single"]:
            c, start = time.process_time(), time.perf_counter()
            got = store.get_online_features(features=refs, entity_rows=[{"key": int(k)}]).to_dict()
            single.append(time.perf_counter() - start)
            single_cpu.append(time.process_time() - c)
            if first is None:
                first = {n: got[n][0] for n in names}
        batches = []
        for keys in plan["batches"]:
            rows = [{"key": int(k)} for k in keys]
            c, start = time.process_time(), time.perf_counter()
            got = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            batches.append(time.perf_counter() - start)
            batch_cpu.append(time.process_time() - c)
            assert len(got[names[0]]) == len(keys)
        out.update(
            single_s=single, batch_s=batches, single_cpu_s=single_cpu, batch_cpu_s=batch_cpu, first=first
        )
    finally:
        store.teardown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
