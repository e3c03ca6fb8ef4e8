"""PostgreSQL reads a search page's params, tags and latest metrics run by run from their primary
keys (``rawsql.page_children``), even for a page holding a large share of the table's runs, where
``run_id = ANY(ids)`` was planned as sequential scans of the three tables."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from modelyard.store.tracking.sql import rawsql

pytestmark = pytest.mark.parametrize("store", ["postgresql"], indirect=True)

RUNS = 3000
PAGE = 1000


def _fill(store) -> list[int]:
    """RUNS runs with 5 params, 4 tags and 5 latest metrics each, by SQL (the plan needs the volume)."""
    with store.engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, lifecycle_stage,"
                    " artifact_uri) SELECT md5(g::text), 'r' || g, 0, 'u', 'FINISHED', g, 'active', 'a'"
                    " FROM generate_series(1, :n) g RETURNING id"
                ),
                {"n": RUNS},
            )
            .scalars()
            .all()
        )
        for table, count in (("params", 5), ("tags", 4)):
            conn.execute(
                text(
                    f"INSERT INTO {table} (run_id, key, value) SELECT r, 'k' || k, 'v' || r"
                    " FROM unnest(CAST(:ids AS bigint[])) r, generate_series(1, :c) k"
                ),
                {"ids": ids, "c": count},
            )
        conn.execute(
            text(
                "INSERT INTO latest_metrics (run_id, key, value, timestamp, step, is_nan)"
                " SELECT r, 'm' || k, k * 0.5, 7, 1, false FROM unnest(CAST(:ids AS bigint[])) r, generate_series(1, 5) k"
            ),
            {"ids": ids},
        )
        conn.execute(text("ANALYZE runs, params, tags, latest_metrics"))
    return ids


def test_a_large_page_reads_its_children_by_primary_key(store) -> None:
    ids = _fill(store)
    page = ids[::3][:PAGE]
    with store.engine.connect() as conn:
        sql = rawsql._any_sql(conn, "page_children")
        array = "{" + ",".join(map(str, page)) + "}"
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, tuple([array] * sql.count("%s")))
        )
        rows = rawsql.page_children(conn, page)
    shown = plan[:3000]
    for table in ("params", "tags", "latest_metrics"):
        assert f"Seq Scan on {table} " not in plan, shown
        assert f"Index Scan on pk_{table}" in plan or f"Index Scan using pk_{table}" in plan, shown
        assert f"Hash Cond: ({table}." not in plan, shown
    by_kind = {kind: [r for r in rows if r[0] == kind] for kind in (0, 1, 2)}
    assert len(by_kind[0]) == 5 * PAGE and len(by_kind[1]) == 4 * PAGE and len(by_kind[2]) == 5 * PAGE
    assert {r[1] for r in rows} == set(page)
    assert all(r[3] == f"v{r[1]}" for r in by_kind[0] + by_kind[1])
    assert sorted((r[2], r[4]) for r in by_kind[2] if r[1] == page[0]) == [
        (f"m{k}", k * 0.5) for k in range(1, 6)
    ]
