"""Folder source (new files, checkpointed progress) and the table sinks: SQL (SQLite, PostgreSQL,
MariaDB), Parquet files, Delta; each stores an event once however often it is written."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from stream_helpers import run_until

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner
from modelyard.streaming.uris import open_sink

RECORDS_1 = [{"event_id": "a", "model_version": "1", "prediction": 0.5, "customer": "c1"},
             {"event_id": "b", "model_version": "1", "prediction": 1.5, "customer": "c2"}]
RECORDS_2 = [{"event_id": "b", "model_version": "2", "prediction": 9.0, "customer": "c2"},
             {"event_id": "c", "model_version": "2", "prediction": 2.5, "customer": "c3"}]


def _write_twice(uri: str) -> None:
    async def go():
        sink = open_sink(uri)
        await sink.start()
        await sink.write(RECORDS_1)
        await sink.write(RECORDS_2)
        await sink.close()

    asyncio.run(go())


def _sql_rows(db_uri: str, table: str) -> list:
    for scheme, driver in (("postgresql://", "postgresql+psycopg://"), ("mysql://", "mysql+pymysql://")):
        db_uri = db_uri.replace(scheme, driver, 1) if db_uri.startswith(scheme) else db_uri
    engine = create_engine(db_uri)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT event_id, model_version, prediction, customer, scored_at FROM {table} "
                                 "ORDER BY event_id")).all()
    engine.dispose()
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_the_sql_sink_keeps_the_first_prediction_of_each_event(backend, request, tmp_path, name):
    db = {"sqlite": lambda: f"sqlite:///{tmp_path / 'p.db'}", "postgresql": lambda: request.getfixturevalue("module_postgres_uri"),
          "mysql": lambda: request.getfixturevalue("module_mysql_uri")}[backend]()
    table = name.replace("-", "_")
    _write_twice(f"{db}?table={table}")
    rows = _sql_rows(db, table)
    assert [(r.event_id, r.model_version, r.prediction, r.customer) for r in rows] == [
        ("a", "1", 0.5, "c1"), ("b", "1", 1.5, "c2"), ("c", "2", 2.5, "c3")]
    assert all(r.scored_at is not None for r in rows)


def test_the_parquet_sink_keeps_the_first_prediction_of_each_event(tmp_path):
    _write_twice(f"parquet://{tmp_path / 'out'}")
    frame = pd.read_parquet(tmp_path / "out").sort_values("event_id")
    assert frame[["event_id", "model_version", "prediction"]].values.tolist() == [
        ["a", "1", 0.5], ["b", "1", 1.5], ["c", "2", 2.5]]
    _write_twice(f"parquet://{tmp_path / 'out'}")  # a new sink (a restart) reads the ids already there
    assert len(pd.read_parquet(tmp_path / "out")) == 3


def test_the_delta_sink_merges_on_the_event_id(tmp_path):
    from deltalake import DeltaTable

    _write_twice(f"delta://{tmp_path / 'delta'}")
    frame = DeltaTable(str(tmp_path / "delta")).to_pandas().sort_values("event_id")
    assert frame[["event_id", "model_version", "prediction"]].values.tolist() == [
        ["a", "1", 0.5], ["b", "1", 1.5], ["c", "2", 2.5]]


def test_a_folder_source_picks_up_new_files_and_resumes_from_its_checkpoint(tmp_path, model_dir, data, estimators):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    pq.write_table(pa.Table.from_pandas(data.iloc[:10], preserve_index=False), incoming / "a.parquet")
    pq.write_table(pa.Table.from_pandas(data.iloc[10:20], preserve_index=False), incoming / "b.parquet")
    sink = f"delta://{tmp_path / 'predictions'}"

    def table():
        from deltalake import DeltaTable

        try:
            return DeltaTable(str(tmp_path / "predictions")).to_pandas()
        except Exception:
            return pd.DataFrame(columns=["event_id"])

    def add_file():
        pq.write_table(pa.Table.from_pandas(data.iloc[20:25], preserve_index=False), incoming / "c.parquet.tmp")
        (incoming / "c.parquet.tmp").rename(incoming / "c.parquet")

    config = StreamConfig(str(model_dir), f"file://{incoming}?format=parquet&poll=0.1", sink, batch_size=7)
    run_until(StreamRunner(config), lambda: len(table()) >= 25, during=add_file)
    frame = table()
    assert sorted(frame["event_id"]) == sorted([f"a.parquet:{i}" for i in range(10)] + [f"b.parquet:{i}" for i in range(10)]
                                               + [f"c.parquet:{i}" for i in range(5)])
    expected = estimators[0].predict(data.iloc[:25]).tolist()
    got = frame.set_index("event_id")["prediction"]
    assert [got[f"a.parquet:{i}"] for i in range(10)] == expected[:10]
    checkpoint = json.loads((incoming / ".modelyard-stream-checkpoint.json").read_text())["files"]
    assert checkpoint == {"a.parquet": {"rows": 10, "total": 10}, "b.parquet": {"rows": 10, "total": 10},
                          "c.parquet": {"rows": 5, "total": 5}}

    again = StreamRunner(config)  # a restart: nothing is read again
    run_until(again, lambda: True)
    assert again.metrics.events_in._value.get() == 0 and len(table()) == 25
