"""bench/ui.py's bulk SQLite populator writes the rows ``_server_populate.SqlPopulator`` writes
(runs, params, tags, metric points, latest values, the history run's points), and leaves the
database in the journal mode the store chose."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TABLES = {
    "runs": "id",
    "params": "run_id, key",
    "tags": "run_id, key",
    "metrics": "run_id, key, step, timestamp",
    "latest_metrics": "run_id, key",
}


@pytest.fixture(scope="module")
def ui():
    spec = importlib.util.spec_from_file_location("bench_ui_for_tests", BENCH / "ui.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(db: Path) -> dict[str, list[tuple]]:
    """Every row of the run tables but those of the two runs made through the store's API, whose
    ids are random (the history run's metric points are compared: they have none)."""
    conn = sqlite3.connect(db)
    try:
        (template,) = conn.execute("SELECT id FROM runs WHERE name = 'run-000000'").fetchone()
        out = {}
        for table, order in TABLES.items():
            column = "id" if table == "runs" else "run_id"
            keep = f"{column} != {template}" + (" AND name != 'history-1m'" if table == "runs" else "")
            out[table] = conn.execute(f"SELECT * FROM {table} WHERE {keep} ORDER BY {order}").fetchall()
        out["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchall()
        return out
    finally:
        conn.close()


def test_bulk_populator_writes_the_rows_of_sql_populator(
    ui, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)  # both fills stamp the same times
    artifacts = tmp_path / "artifacts"
    filled = {}
    for populator in ("sql", "bulk"):
        db = tmp_path / populator / "ui.db"
        db.parent.mkdir()
        ctx = ui.populate(db, artifacts, runs=37, points=2_345, populator=populator)
        assert ctx["populator"] == populator
        filled[populator] = _rows(db)
    sql, bulk = filled["sql"], filled["bulk"]
    assert len(sql["runs"]) == 35  # 37 runs but the template and the history run
    assert len(sql["params"]) == 35 * 5 and len(sql["metrics"]) == 35 * 5 + 2_345
    assert sql["journal_mode"] == [("wal",)]
    for table in (*TABLES, "journal_mode"):
        assert bulk[table] == sql[table], table


def test_bulk_populator_refuses_other_databases(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(BENCH))
    from _sqlite_populate import SqliteBulkPopulator

    with pytest.raises(ValueError, match="SQLite databases only"):
        SqliteBulkPopulator("postgresql://nobody@127.0.0.1/none", "0" * 32, set())


def test_streamed_history_matches_sql_populator(ui, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """insert_history (points from any iterable) appends and moves the latest value as SqlPopulator's."""
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    filled = {}
    for populator in ("sql", "bulk"):
        db = tmp_path / populator / "ui.db"
        db.parent.mkdir()
        ctx = ui.populate(db, tmp_path / "artifacts", runs=4, points=3, populator=populator)
        pop = ui.POPULATORS[populator](f"sqlite:///{db}", ctx["history_run_id"], set())
        try:
            points = [(0.25 * s, 7 + s, s) for s in (5, 9, 4)]
            pop.insert_history(ctx["history_run_id"], "loss", points if populator == "sql" else iter(points))
            pop.insert_history(ctx["history_run_id"], "new", [(2.0, 1, 1), (3.0, 2, 1)])
        finally:
            pop.close()
        filled[populator] = _rows(db)
    assert filled["bulk"] == filled["sql"]
    history_id = 2  # the second run the store made (the template is the first)
    latest = {row[1]: row[2:5] for row in filled["sql"]["latest_metrics"] if row[0] == history_id}
    assert latest == {"loss": (2.25, 16, 9), "new": (3.0, 2, 1)}
