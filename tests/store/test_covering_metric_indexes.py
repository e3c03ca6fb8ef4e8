"""Revision 0011's metric indexes hold every column their reads return: a metric's history and a
search's walk in metric order read the index alone (SQLite's plan says COVERING INDEX; since revision
0014 SQLite's history is the table's own primary key), with the same answers as before, including NaN,
infinities, ties and pages; a database at 0010 with metrics upgrades to them."""

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
ORDER = ["key", "is_nan", "value", "run_id"]


def _statements(store: SqlTrackingStore, call) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    return seen


def _plan(store: SqlTrackingStore, sql: str, params) -> list[str]:
    with store.engine.connect() as conn:
        return [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]


def test_history_is_read_from_the_index_alone(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'h.db'}", default_artifact_root=str(tmp_path))
    try:
        exp = store.create_experiment("h")
        run = store.create_run(exp, "u", 1, run_name="r").info.run_id
        # out of order, repeated steps, NaN and infinities: the answer is ordered by step, timestamp, value
        points = [
            Metric("loss", 3.0, 30, 2),
            Metric("loss", math.nan, 10, 0),
            Metric("loss", math.inf, 20, 1),
            Metric("loss", -math.inf, 5, 1),
            Metric("loss", 1.0, 5, 1),
            Metric("other", 9.0, 1, 0),
        ]
        store.log_batch(run, metrics=points)
        got = [(m.step, m.timestamp, m.value) for m in store.get_metric_history(run, "loss")]
        assert got[0][:2] == (0, 10) and math.isnan(got[0][2])
        assert got[1:] == [(1, 5, -math.inf), (1, 5, 1.0), (1, 20, math.inf), (2, 30, 3.0)]
        page = store.get_metric_history(run, "loss", max_results=2, page_token=None)
        rest = store.get_metric_history(run, "loss", max_results=10, page_token=page.token)
        assert [m.step for m in page] + [m.step for m in rest] == [0, 1, 1, 1, 2]
        (sql, params) = [
            (s, p)
            for s, p in _statements(store, lambda: store.get_metric_history(run, "loss"))
            if "FROM metrics" in s
        ][0]
        plan = _plan(store, sql, params)
    finally:
        store.close()
    # the clustered table's key (revision 0014: on SQLite the points are the history's b-tree)
    assert any("SEARCH metrics USING PRIMARY KEY (run_id=? AND key=?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort: the key is the order


def test_metric_order_walks_the_index_alone(tmp_path: Path) -> None:
    """The first band of a search ordered by a metric (banded when the experiment is large)."""
    from modelyard.store.tracking.sql import run_search

    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 's.db'}", default_artifact_root=str(tmp_path))
    try:
        exp = store.create_experiment("s")
        values = [0.5, math.nan, -1.0, 0.5, math.inf, 2.0]
        ids = []
        for i, value in enumerate(values):
            run = store.create_run(exp, "u", 100 + i, run_name=f"r{i}").info.run_id
            store.log_metric(run, Metric("loss", value, 0, 0))
            ids.append(run)
        ids.append(store.create_run(exp, "u", 200, run_name="no-loss").info.run_id)
        run_search.BANDED_MIN_RUNS, before = 2, run_search.BANDED_MIN_RUNS
        try:
            seen = _statements(store, lambda: store.search_runs([exp], None, order_by=["metrics.loss ASC"]))
            asc = [r.info.run_name for r in store.search_runs([exp], None, order_by=["metrics.loss ASC"])]
            desc = [r.info.run_name for r in store.search_runs([exp], None, order_by=["metrics.loss DESC"])]
            paged, token = [], None
            while True:
                page = store.search_runs(
                    [exp], None, max_results=2, order_by=["metrics.loss ASC"], page_token=token
                )
                paged += [r.info.run_name for r in page]
                token = page.token
                if not token:
                    break
        finally:
            run_search.BANDED_MIN_RUNS = before
        (sql, params) = [(s, p) for s, p in seen if "order_band" in s][0]
        plan = _plan(store, sql, params)
    finally:
        store.close()
    # numbers in order (ties: newest start first), then NaN, then runs without the metric
    assert asc == ["r2", "r3", "r0", "r5", "r4", "r1", "no-loss"]
    assert desc == ["r4", "r5", "r3", "r0", "r2", "r1", "no-loss"]
    assert paged == asc
    assert any(
        "USING COVERING INDEX ix_latest_metrics_order (key=? AND is_nan=?)" in step for step in plan
    ), plan


def test_a_database_at_0010_gets_the_indexes(old_uri: str, tmp_path: Path, runs_at_revision) -> None:
    engine = create_db_engine(old_uri)
    try:
        ids = runs_at_revision(engine, "0010", [100, 200])
        rows = [
            {
                "run_id": ids[name],
                "key": "loss",
                "value": value,
                "timestamp": step,
                "step": step,
                "is_nan": False,
            }
            for name, value in (("r0", 0.25), ("r1", 0.75))
            for step in range(3)
        ]
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.metrics), rows)
            conn.execute(sa.insert(schema.latest_metrics), [r for r in rows if r["step"] == 2])
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        inspector = sa.inspect(engine)
        metrics = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("metrics")}
        latest = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("latest_metrics")}
        if engine.dialect.name == "sqlite":  # the history's columns are the key instead (revision 0014)
            assert metrics == {} and inspector.get_pk_constraint("metrics")["constrained_columns"] == HISTORY
        else:
            assert metrics.get("ix_metrics_history") == HISTORY and "ix_metrics_run_key_step" not in metrics
        assert latest.get("ix_latest_metrics_order") == ORDER and "ix_latest_metrics_key_value" not in latest
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        exp_id = store.get_experiment_by_name("old").experiment_id
        assert [m.step for m in store.get_metric_history(f"{1:032x}", "loss")] == [0, 1, 2]
        found = store.search_runs([exp_id], "metrics.loss < 0.5", order_by=["metrics.loss DESC"])
        assert [r.info.run_name for r in found] == ["r0"]
        assert [
            r.info.run_name for r in store.search_runs([exp_id], None, order_by=["metrics.loss DESC"])
        ] == [
            "r1",
            "r0",
        ]
    finally:
        store.close()


def test_downgrade_restores_the_old_indexes(tmp_path: Path, downgrade_to) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        migrate.upgrade(engine)
        downgrade_to(engine, "0010")
        metrics = {ix["name"] for ix in sa.inspect(engine).get_indexes("metrics")}
        latest = {ix["name"] for ix in sa.inspect(engine).get_indexes("latest_metrics")}
        assert metrics == {"ix_metrics_run_key_step"}
        assert latest == {"ix_latest_metrics_key_value"}
    finally:
        engine.dispose()
