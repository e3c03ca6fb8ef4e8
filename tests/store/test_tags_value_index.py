"""Searches that require a tag value (a run page's children: ``tags.mlflow.parentRunId = '<id>'``)
are served by revision 0010's index on ``tags.value``: a rare value drives the query (the runs are
looked up from the few tag rows holding it), a common one leaves the usual plan. The answers are
those of the plain plan, on every backend, for values of any length; a database at 0009 with runs
upgrades to the index."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import Metric, RunTag, ViewType
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql import run_search
from modelyard.store.tracking.sql.store import SqlTrackingStore

INDEX = "ix_tags_value"
PARENT = "mlflow.parentRunId"


def _children_query(store: SqlTrackingStore, experiment_id: str, parent: str) -> tuple[str, object]:
    """The statement (SQL, parameters) of a child-run search that reads the runs."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        store.search_runs([experiment_id], f"tags.`{PARENT}` = '{parent}'", max_results=50)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    (query,) = [(sql, params) for sql, params in seen if "FROM runs" in sql and "ORDER BY" in sql]
    return query


def _family(store: SqlTrackingStore, n_other: int = 20) -> tuple[str, str, list[str]]:
    """An experiment with a parent, three children (one with a loss, in reverse start order) and
    ``n_other`` unrelated runs; the parent's id is also the value of an unrelated tag key."""
    exp = store.create_experiment("family")
    parent = store.create_run(exp, "u", 1_000, run_name="parent").info.run_id
    children = []
    for i in range(3):
        tags = [RunTag(PARENT, parent), RunTag("team", "vision")]
        children.append(store.create_run(exp, "u", 2_000 - i, tags, f"child-{i}").info.run_id)
    store.log_metric(children[1], Metric("loss", 0.5, 0, 0))
    for i in range(n_other):
        store.create_run(exp, "u", 3_000 + i, [RunTag("team", "vision")], f"other-{i}")
    store.create_run(exp, "u", 5_000, [RunTag("copied_from", parent)], "same-value-other-key")
    return exp, parent, children


def _ids(page) -> list[str]:
    return [r.info.run_id for r in page]


def test_children_are_found_by_the_driven_plan(store: SqlTrackingStore) -> None:
    exp, parent, children = _family(store)
    other_exp = store.create_experiment("elsewhere")
    store.create_run(other_exp, "u", 9_000, [RunTag(PARENT, parent)], "child-elsewhere")
    where = f"tags.`{PARENT}` = '{parent}'"
    assert _ids(store.search_runs([exp], where)) == children  # newest first
    assert _ids(store.search_runs([exp], where, order_by=["metrics.loss ASC"])) == [
        children[1],
        children[0],
        children[2],
    ]
    assert _ids(store.search_runs([exp], f"{where} AND attributes.run_name != 'child-0'")) == children[1:]
    assert _ids(store.search_runs([exp], f"{where} AND tags.team = 'vision'")) == children
    # the same value under another key is no child; an OR is not driven and still answers right
    assert _ids(store.search_runs([exp], f"{where} OR attributes.run_name = 'parent'")) == [*children, parent]
    pages, token = [], None
    while True:
        page = store.search_runs([exp], where, max_results=2, page_token=token)
        pages.append(_ids(page))
        token = page.token
        if not token:
            break
    assert pages == [children[:2], children[2:]]
    store.delete_run(children[0])
    assert _ids(store.search_runs([exp], where)) == children[1:]
    assert _ids(store.search_runs([exp], where, run_view_type=ViewType.DELETED_ONLY)) == children[:1]
    assert _ids(store.search_runs([exp], "tags.`mlflow.parentRunId` = 'no-such-run'")) == []


def test_a_common_value_is_not_driven(store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past DRIVING_TAG_MAX holders of the value the usual plan runs, with the same answers."""
    from modelyard.search import parse_filter

    exp, parent, _ = _family(store, n_other=6)
    common, rare = "tags.team = 'vision'", f"tags.`{PARENT}` = '{parent}'"
    driven = _ids(store.search_runs([exp], common, max_results=5, order_by=["attributes.run_name ASC"]))
    monkeypatch.setattr(run_search, "DRIVING_TAG_MAX", 4)  # 9 runs hold "vision", 4 hold the parent id
    with store.engine.connect() as conn:
        assert run_search.driving_tag(conn, None) is None
        assert run_search.driving_tag(conn, parse_filter(common, "runs")) is None
        assert run_search.driving_tag(conn, parse_filter(rare, "runs")) is None
        monkeypatch.setattr(run_search, "DRIVING_TAG_MAX", 5)
        assert run_search.driving_tag(conn, parse_filter(rare, "runs")) is not None
    assert (
        _ids(store.search_runs([exp], common, max_results=5, order_by=["attributes.run_name ASC"])) == driven
    )
    assert driven == sorted(driven, key=lambda r: store.get_run(r).info.run_name)
    assert len(driven) == 5


def test_long_values_are_indexed_and_compared_whole(store: SqlTrackingStore) -> None:
    """8,000-character values: a PostgreSQL b-tree could not hold them, MariaDB indexes their first 255
    characters; two values alike in those are still told apart."""
    exp = store.create_experiment("long")
    head = "x" * 300
    a = store.create_run(exp, "u", 1, [RunTag("note", head + "a" * 7_700)]).info.run_id
    b = store.create_run(exp, "u", 2, [RunTag("note", head + "b" * 7_700)]).info.run_id
    assert _ids(store.search_runs([exp], f"tags.note = '{head + 'a' * 7_700}'")) == [a]
    assert _ids(store.search_runs([exp], f"tags.note = '{head + 'b' * 7_700}'")) == [b]
    assert _ids(store.search_runs([exp], f"tags.note = '{head}'")) == []


# -- the plans -------------------------------------------------------------------------------------
def test_sqlite_plan_reads_the_tag_rows_not_every_run(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(
        f"sqlite:///{tmp_path / 'plan.db'}", default_artifact_root=str(tmp_path)
    )
    try:
        exp, parent, _ = _family(store)
        sql, params = _children_query(store, exp, parent)
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        store.close()
    # (a covering index since revision 0013: its entries hold the clustered key, run_id and key)
    assert any(f"USING COVERING INDEX {INDEX} (value=?)" in step for step in plan), plan
    assert any(step.startswith("SEARCH runs USING INTEGER PRIMARY KEY") for step in plan), plan
    assert not any(step.startswith("SCAN runs") or "ix_runs_experiment" in step for step in plan), plan


@pytest.mark.parametrize("store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_plan_uses_the_hash_index(store: SqlTrackingStore) -> None:
    """On a few rows PostgreSQL rightly scans; with scans priced out the tags come from the hash index."""
    exp, parent, _ = _family(store)
    sql, params = _children_query(store, exp, parent)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, params)]
        using = conn.exec_driver_sql(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = %(name)s",
            {"name": INDEX},
        ).scalar_one()
    assert using == "hash"
    assert any(INDEX in line for line in plan), plan


@pytest.mark.parametrize("store", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_mariadb_plan_uses_the_prefix_index(store: SqlTrackingStore) -> None:
    exp, parent, _ = _family(store, n_other=200)
    sql, params = _children_query(store, exp, parent)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE TABLE tags, runs")
        plan = [dict(row._mapping) for row in conn.exec_driver_sql("EXPLAIN " + sql, params)]
        (sub_part,) = {
            row["Sub_part"]
            for row in conn.exec_driver_sql("SHOW INDEX FROM tags").mappings()
            if row["Key_name"] == INDEX
        }
    assert int(sub_part) == 255
    tags_rows = [row for row in plan if row["table"] == "tags"]
    assert any(row["key"] == INDEX for row in tags_rows), plan
    assert not any(row["table"] == "runs" and row["type"] == "ALL" for row in plan), plan


# -- the migration on a database made before it ----------------------------------------------------
def test_a_database_at_0009_gets_the_index(old_uri: str, tmp_path: Path, runs_at_revision) -> None:
    engine = create_db_engine(old_uri)
    try:
        ids = runs_at_revision(engine, "0009", [100 + i for i in range(5)])
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema.tags),
                [{"run_id": ids[f"r{i}"], "key": PARENT, "value": f"{0:032x}"} for i in (1, 2, 4)]
                + [{"run_id": ids["r3"], "key": "long", "value": "v" * 8_000}],
            )
        assert INDEX not in {ix["name"] for ix in sa.inspect(engine).get_indexes("tags")}
        result = CliRunner().invoke(cli, ["db", "upgrade", old_uri])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("tags")}
        assert indexes[INDEX] == ["value"]
    finally:
        engine.dispose()
    store = SqlTrackingStore.from_uri(old_uri, default_artifact_root=str(tmp_path))
    try:
        exp_id = store.get_experiment_by_name("old").experiment_id
        found = store.search_runs([exp_id], f"tags.`{PARENT}` = '{0:032x}'")
        assert [r.info.run_name for r in found] == ["r4", "r2", "r1"]
        assert [r.info.run_name for r in store.search_runs([exp_id], f"tags.long = '{'v' * 8_000}'")] == [
            "r3"
        ]
    finally:
        store.close()
