"""Revision 0014: on SQLite, ``metrics`` is a ``WITHOUT ROWID`` table keyed on a history's order
``(run_id, key, step, timestamp, value, is_nan)``: each point is stored once (no table plus covering
index), a history is read from the key in order, an exact repeat of a point is still dropped on write.
A database at 0013 upgrades with its points (exact repeats kept once) and answers the same histories;
downgrade gives the rowid table and its index back; PostgreSQL and MariaDB keep table and index."""

from __future__ import annotations

import math
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import Metric
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql.store import SqlTrackingStore

HISTORY = ["run_id", "key", "step", "timestamp", "value", "is_nan"]


def _metrics_table_sql(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'metrics'"
        ).scalar()


def _points(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(schema.metrics)).all())


def test_points_are_stored_once_in_the_history_order(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'm.db'}", default_artifact_root=str(tmp_path))
    try:
        assert "WITHOUT ROWID" in _metrics_table_sql(store.engine).upper()
        inspector = sa.inspect(store.engine)
        assert inspector.get_pk_constraint("metrics")["constrained_columns"] == HISTORY
        assert inspector.get_indexes("metrics") == []  # no second copy of the points
        run = store.create_run(store.create_experiment("m"), "u", 1, run_name="r").info.run_id
        points = [Metric("loss", 2.0, 20, 1), Metric("loss", math.nan, 10, 0), Metric("loss", 2.0, 20, 1)]
        store.log_batch(run, metrics=points)
        store.log_batch(run, metrics=points[:1] + [Metric("loss", -0.0, 20, 1), Metric("loss", 1.0, 30, 1)])
        store.log_metric(run, Metric("loss", math.nan, 10, 0))  # a repeat, one point at a time
        got = [(m.step, m.timestamp, m.value) for m in store.get_metric_history(run, "loss")]
        assert got[0][:2] == (0, 10) and math.isnan(got[0][2])
        # -0.0 and 0.0 are one value to SQLite's key: the first stored stays
        assert got[1:] == [(1, 20, -0.0), (1, 20, 2.0), (1, 30, 1.0)]
        assert len(_points(store.engine)) == 4
    finally:
        store.close()


def test_a_database_at_0013_upgrades_with_its_points(old_uri: str, tmp_path: Path, runs_at_revision) -> None:
    engine = create_db_engine(old_uri)
    try:
        ids = runs_at_revision(engine, "0013", [100, 200])
        rows = [
            {
                "run_id": ids[name],
                "key": key,
                "value": value,
                "timestamp": 7 - step,
                "step": step,
                "is_nan": nan,
            }
            for name in ("r0", "r1")
            for key in ("loss", "acc")
            for step, value, nan in ((2, 0.5, False), (0, 0.0, True), (1, 1e300, False), (1, -2.5, False))
        ]
        repeats = rows[:3]  # exact repeats, which a store before the revision could hold
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.metrics), rows + repeats)
        assert len(_points(engine)) == len(rows) + len(repeats)
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        inspector = sa.inspect(engine)
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("metrics")}
        if engine.dialect.name == "sqlite":
            assert sorted(_points(engine)) == sorted({tuple(r.values()) for r in rows})  # each once
            assert "WITHOUT ROWID" in _metrics_table_sql(engine).upper() and indexes == {}
            assert inspector.get_pk_constraint("metrics")["constrained_columns"] == HISTORY
        else:  # untouched
            assert len(_points(engine)) == len(rows) + len(repeats)
            assert indexes == {"ix_metrics_history": HISTORY}
            assert inspector.get_pk_constraint("metrics")["constrained_columns"] == []
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        history = [(m.step, m.timestamp, m.value) for m in store.get_metric_history(f"{1:032x}", "acc")]
        assert history[0][:2] == (0, 7) and math.isnan(history[0][2])
        assert history[1:] == [(1, 6, -2.5), (1, 6, 1e300), (2, 5, 0.5)]
    finally:
        store.close()


def test_downgrade_gives_the_rowid_table_and_its_index_back(tmp_path: Path, downgrade_to) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'd.db'}", default_artifact_root=str(tmp_path))
    try:
        run = store.create_run(store.create_experiment("d"), "u", 1, run_name="r").info.run_id
        store.log_batch(run, metrics=[Metric("m", i / 3, i, i) for i in range(50)])
    finally:
        store.close()
    engine = create_db_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        before = _points(engine)
        downgrade_to(engine, "0013")
        assert "WITHOUT ROWID" not in _metrics_table_sql(engine).upper()
        inspector = sa.inspect(engine)
        assert {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("metrics")} == {
            "ix_metrics_history": HISTORY
        }
        assert inspector.get_pk_constraint("metrics")["constrained_columns"] == []
        assert _points(engine) == before and len(before) == 50
    finally:
        engine.dispose()
