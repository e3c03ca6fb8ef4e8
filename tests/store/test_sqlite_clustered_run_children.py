"""Revision 0013: on SQLite, ``params``, ``tags`` and ``latest_metrics`` are ``WITHOUT ROWID`` tables
clustered on ``(run_id, key)``, so a search's per-run tests and a page's children read one b-tree.
A database at 0012 upgrades with every row, key and index kept and answers the same; downgrade
gives rowid tables back; PostgreSQL and MariaDB keep their tables."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import Metric, Param, RunTag
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql.store import SqlTrackingStore

TABLES = ("params", "tags", "latest_metrics")


def _without_rowid(engine: sa.Engine) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('params', 'tags', 'latest_metrics')"
        ).all()
    return {name: "WITHOUT ROWID" in sql.upper() for name, sql in rows}


def test_the_filter_probes_read_the_clustered_keys(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'c.db'}", default_artifact_root=str(tmp_path))
    try:
        assert _without_rowid(store.engine) == dict.fromkeys(TABLES, True)
        exp = store.create_experiment("c")
        for i in range(4):
            run = store.create_run(
                exp, "u", 100 + i, [RunTag("team", "a" if i % 2 else "b")], f"r{i}"
            ).info.run_id
            store.log_batch(
                run, metrics=[Metric("acc", i / 4, 0, 0)], params=[Param("opt", "adam" if i < 3 else "sgd")]
            )
        seen: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:
            seen.append((statement, parameters))

        where = "metrics.acc > 0.2 AND params.opt = 'adam' AND tags.team = 'a'"
        sa.event.listen(sa.Engine, "before_cursor_execute", record)
        try:
            found = store.search_runs([exp], where, order_by=["attributes.run_name ASC"])
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", record)
        assert [r.info.run_name for r in found] == ["r1"]
        assert found[0].data.params == {"opt": "adam"} and found[0].data.tags["team"] == "a"
        sql, params = next((s, p) for s, p in seen if "FROM runs" in s and "EXISTS" in s)
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        store.close()
    for table in TABLES:
        assert any(f"SEARCH {table} USING PRIMARY KEY (run_id=? AND key=?)" in step for step in plan), plan


def test_a_database_at_0012_upgrades_with_its_rows(old_uri: str, tmp_path: Path, runs_at_revision) -> None:
    engine = create_db_engine(old_uri)
    try:
        ids = runs_at_revision(engine, "0012", [100, 200, 300])
        with engine.begin() as conn:
            for name, rid in ids.items():
                conn.execute(sa.insert(schema.params), [{"run_id": rid, "key": "opt", "value": f"v-{name}"}])
                conn.execute(sa.insert(schema.tags), [{"run_id": rid, "key": "team", "value": "x" * 3_000}])
                conn.execute(
                    sa.insert(schema.latest_metrics),
                    [
                        {
                            "run_id": rid,
                            "key": "acc",
                            "value": rid / 10,
                            "timestamp": 1,
                            "step": 0,
                            "is_nan": False,
                        }
                    ],
                )
        before = {t: _rows(engine, t) for t in TABLES}
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        assert {t: _rows(engine, t) for t in TABLES} == before
        inspector = sa.inspect(engine)
        for table in TABLES:
            assert inspector.get_pk_constraint(table)["constrained_columns"] == ["run_id", "key"]
            (fk,) = inspector.get_foreign_keys(table)
            assert fk["referred_table"] == "runs" and fk["options"]["ondelete"].upper() == "CASCADE"
        assert "ix_tags_value" in {ix["name"] for ix in inspector.get_indexes("tags")}
        assert "ix_latest_metrics_order" in {ix["name"] for ix in inspector.get_indexes("latest_metrics")}
        if engine.dialect.name == "sqlite":
            assert _without_rowid(engine) == dict.fromkeys(TABLES, True)
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        exp_id = store.get_experiment_by_name("old").experiment_id
        found = store.search_runs([exp_id], "params.opt != 'v-r1'", order_by=["metrics.acc DESC"])
        assert [r.info.run_name for r in found] == ["r2", "r0"]
        assert found[0].data.tags == {"team": "x" * 3_000}
    finally:
        store.close()


def _rows(engine: sa.Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(schema.metadata.tables[table])).all())


def test_downgrade_gives_rowid_tables_back(tmp_path: Path, downgrade_to) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        migrate.upgrade(engine)
        downgrade_to(engine, "0012")
        assert _without_rowid(engine) == dict.fromkeys(TABLES, False)
        assert "ix_latest_metrics_order" in {
            ix["name"] for ix in sa.inspect(engine).get_indexes("latest_metrics")
        }
    finally:
        engine.dispose()
