"""The runs page's default order (``start_time DESC``, NULLs last, then ``run_uuid``) is served by
revision 0009's ``(experiment_id, start_time DESC, run_uuid, lifecycle_stage)`` index: the database walks it and
stops after one page instead of sorting every run of the experiment. The order itself is unchanged
(the in-memory evaluator agrees), and a database at 0008 upgrades to the index."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import ViewType
from modelyard.search import parse_order_by, sort_runs
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking.sql.store import SqlTrackingStore

INDEX = "ix_runs_experiment_start_uuid"
DEFAULT_ORDER = ["attributes.start_time DESC"]


def _runs_queries(store: SqlTrackingStore, experiment_id: str, **kwargs) -> list[tuple[str, object]]:
    """The statements (SQL, parameters) of one search_runs call that read rows of ``runs`` in order."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        store.search_runs([experiment_id], max_results=100, **kwargs)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    return [(sql, params) for sql, params in seen if "ORDER BY" in sql and "FROM runs" in sql]


def _fill(store: SqlTrackingStore, n: int = 30) -> str:
    exp = store.create_experiment("start-order")
    for i in range(n):
        # ties on start_time, so the run_uuid tie-breaker matters
        store.create_run(exp, "u", start_time=1_000 + i // 3)
    return exp


def test_sqlite_plan_walks_the_index_without_sorting(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(
        f"sqlite:///{tmp_path / 'plan.db'}", default_artifact_root=str(tmp_path)
    )
    try:
        exp = _fill(store)
        for kwargs in ({"order_by": DEFAULT_ORDER}, {}):  # asked for, and the default of search_runs
            (query,) = _runs_queries(store, exp, **kwargs)
            with store.engine.connect() as conn:
                plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query[0], query[1])]
            assert any(INDEX in step for step in plan), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort step
    finally:
        store.close()


@pytest.mark.parametrize("store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_plan_needs_no_sort(store: SqlTrackingStore) -> None:
    """With sorting priced out, PostgreSQL still has a Sort node unless an index gives the order."""
    exp = _fill(store)
    (query,) = _runs_queries(store, exp, order_by=DEFAULT_ORDER)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + query[0], query[1])]
    assert any(INDEX in line for line in plan), plan
    assert not any("Sort" in line for line in plan), plan


@pytest.mark.parametrize("store", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_mariadb_plan_needs_no_filesort(store: SqlTrackingStore) -> None:
    """On a few rows MariaDB rightly reads the whole table; made to use the index, it must need no
    filesort (the order is the index's own)."""
    exp = _fill(store)
    (query,) = _runs_queries(store, exp, order_by=DEFAULT_ORDER)
    sql = query[0].replace("FROM runs", f"FROM runs FORCE INDEX ({INDEX})", 1)
    with store.engine.connect() as conn:
        plan = [dict(row._mapping) for row in conn.exec_driver_sql("EXPLAIN " + sql, query[1])]
    assert [row["key"] for row in plan] == [INDEX], plan
    assert "filesort" not in (plan[0]["Extra"] or ""), plan


def test_default_order_is_unchanged(store: SqlTrackingStore) -> None:
    """start_time DESC with NULLs last, then run_uuid: the evaluator's order, page after page."""
    exp = _fill(store, 12)
    for _ in range(3):
        store.create_run(exp, "u", start_time=None)
    every = store.search_runs([exp], max_results=1000, run_view_type=ViewType.ALL)
    expected = [r.info.run_id for r in sort_runs(list(every), parse_order_by(DEFAULT_ORDER, "runs"))]
    for order_by in (DEFAULT_ORDER, None):
        seen, token = [], None
        while True:
            page = store.search_runs([exp], max_results=4, order_by=order_by, page_token=token)
            seen += [r.info.run_id for r in page]
            token = page.token
            if not token:
                break
        assert seen == expected


# -- the migration on a database made before it ------------------------------------------------------
def _index_columns(engine: sa.Engine) -> dict[str, list]:
    return {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("runs")}


def test_a_database_at_0008_gets_the_index(old_uri: str, tmp_path: Path, runs_at_revision) -> None:
    engine = create_db_engine(old_uri)
    try:
        runs_at_revision(engine, "0008", [None if i == 2 else 100 + i % 2 for i in range(5)])  # one without a start time
        assert "ix_runs_experiment_start" in _index_columns(engine)
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        indexes = _index_columns(engine)
        assert "ix_runs_experiment_start" not in indexes
        assert indexes[INDEX][0] == "experiment_id" and indexes[INDEX][-2:] == ["run_uuid", "lifecycle_stage"]
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        exp = store.get_experiment_by_name("old").experiment_id
        names = [r.info.run_name for r in store.search_runs([exp], order_by=DEFAULT_ORDER)]
        assert names == ["r1", "r3", "r0", "r4", "r2"]  # newest first, uuid order in a tie, no start last
    finally:
        store.close()
