"""Revision 0012 drops the foreign key of ``metrics.run_id``: an upgraded database keeps every point
and the history index, the key is gone on every backend (and comes back on downgrade), and points
still cannot name a missing or deleted run, which the store refuses before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import Metric
from modelyard.exceptions import ModelyardError
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql.store import SqlTrackingStore


def _run_fks(engine: sa.Engine) -> list[dict]:
    return [fk for fk in sa.inspect(engine).get_foreign_keys("metrics") if fk["referred_table"] == "runs"]


def test_a_database_at_0011_loses_the_key_and_keeps_its_points(
    old_uri: str, tmp_path: Path, runs_at_revision
) -> None:
    engine = create_db_engine(old_uri)
    try:
        ids = runs_at_revision(engine, "0011", [100, 200])
        rows = [
            {"run_id": ids["r1"], "key": k, "value": s / 2, "timestamp": 10 + s, "step": s, "is_nan": s == 3}
            for k in ("loss", "acc")
            for s in range(5)
        ]
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.metrics), rows)
        assert len(_run_fks(engine)) == 1
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        assert _run_fks(engine) == []
        history = ["run_id", "key", "step", "timestamp", "value", "is_nan"]
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("metrics")}
        if engine.dialect.name == "sqlite":  # the history's columns are the table's key (revision 0014)
            assert indexes == {} and sa.inspect(engine).get_pk_constraint("metrics")["constrained_columns"] == history
        else:
            assert indexes == {"ix_metrics_history": history}
        with engine.connect() as conn:
            kept = conn.execute(sa.select(schema.metrics).order_by("key", "step")).mappings().all()
        assert sorted(
            (r["key"], r["step"], r["value"], r["timestamp"], bool(r["is_nan"])) for r in kept
        ) == sorted((r["key"], r["step"], r["value"], r["timestamp"], r["is_nan"]) for r in rows)
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        assert [m.step for m in store.get_metric_history(f"{1:032x}", "loss")] == [0, 1, 2, 3, 4]
    finally:
        store.close()


def test_downgrade_restores_the_key(old_uri: str, downgrade_to) -> None:
    engine = create_db_engine(old_uri)
    try:
        migrate.upgrade(engine)
        downgrade_to(engine, "0011")
        (fk,) = _run_fks(engine)
        assert fk["constrained_columns"] == ["run_id"] and fk["referred_columns"] == ["id"]
        assert fk["options"]["ondelete"].upper() == "CASCADE"
        migrate.upgrade(engine)
        assert _run_fks(engine) == []
    finally:
        engine.dispose()


def test_points_of_a_missing_or_deleted_run_are_refused(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("fk")
    run = store.create_run(exp, "u", 1, run_name="r").info.run_id
    store.log_batch(run, metrics=[Metric("loss", 1.0, 1, 0)])
    store.delete_run(run)
    for run_id in (run, "f" * 32):
        with pytest.raises(ModelyardError) as err:
            store.log_batch(run_id, metrics=[Metric("loss", 2.0, 2, 1)])
        assert err.value.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
        with pytest.raises(ModelyardError):
            store.log_metric(run_id, Metric("loss", 2.0, 2, 1))
    store.restore_run(run)
    assert [(m.step, m.value) for m in store.get_metric_history(run, "loss")] == [(0, 1.0)]
    with store.engine.connect() as conn:
        stray = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.metrics)
            .where(~schema.metrics.c.run_id.in_(sa.select(schema.runs.c.id)))
        ).scalar_one()
    assert stray == 0
