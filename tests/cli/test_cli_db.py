"""`modelyard db upgrade|current`."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from modelyard.store.sql.migrate import SCHEMA_HEAD
from modelyard.tracking.client import TrackingClient


def test_current_of_an_empty_database(invoke, tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    result = invoke("db", "current", uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("none (empty database")
    assert json.loads(invoke("db", "current", uri, "-o", "json").stdout) == {
        "revision": None,
        "head": SCHEMA_HEAD,
        "up_to_date": False,
    }


def test_upgrade_then_current(invoke, tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    result = invoke("db", "upgrade", uri)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Database upgraded from an empty database to revision {SCHEMA_HEAD}.\n"
    assert result.stderr == ""  # a new database's revisions are not listed
    assert invoke("db", "current", uri).stdout == f"{SCHEMA_HEAD} (head)\n"
    assert json.loads(invoke("db", "current", uri, "--output", "json").stdout)["up_to_date"] is True
    # the upgraded database is usable as a tracking store
    assert TrackingClient(uri).get_experiment("0").name == "Default"


def test_upgrade_is_idempotent(invoke, tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    assert invoke("db", "upgrade", uri).exit_code == 0
    again = invoke("db", "upgrade", uri)
    assert again.exit_code == 0
    assert "already at the newest revision" in again.stdout


def test_a_path_to_a_db_file_means_sqlite(invoke, tmp_path):
    path = tmp_path / "by-path.db"
    assert invoke("db", "upgrade", str(path)).exit_code == 0
    assert invoke("db", "current", str(path)).stdout == f"{SCHEMA_HEAD} (head)\n"


def test_upgrade_refuses_a_foreign_database(invoke, tmp_path, expect_error):
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.close()
    expect_error(
        invoke("db", "upgrade", f"sqlite:///{path}"), 1, "INVALID_STATE", "no modelyard schema revision"
    )
    assert invoke("db", "current", f"sqlite:///{path}").stdout.startswith("unknown")


def test_unsupported_uri(invoke, expect_error):
    expect_error(
        invoke("db", "upgrade", "http://localhost:5000"), 1, "INVALID_PARAMETER_VALUE", "Unsupported database"
    )


def test_folder_is_refused(invoke, tmp_path, expect_error):
    expect_error(invoke("db", "current", str(tmp_path)), 1, "INVALID_PARAMETER_VALUE")


def test_uri_is_required(invoke, expect_error):
    expect_error(invoke("db", "upgrade"), 2, "Missing argument 'URI'")


def test_upgrade_an_older_revision(invoke, tmp_path):
    from modelyard.store.sql import migrate
    from modelyard.store.sql.engine import create_db_engine

    if SCHEMA_HEAD == "0001":
        pytest.skip("only one schema revision exists so far")
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_db_engine(uri)
    try:
        migrate.upgrade(engine, "0001")
    finally:
        engine.dispose()
    assert invoke("db", "current", uri).stdout.startswith(f"0001 (newest is {SCHEMA_HEAD}")
    result = invoke("db", "upgrade", uri)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Database upgraded from 0001 to revision {SCHEMA_HEAD}.\n"
    assert json.loads(invoke("db", "current", uri, "-o", "json").stdout)["revision"] == SCHEMA_HEAD


def test_an_upgrade_that_frees_pages_says_so_and_vacuum_gives_them_back(invoke, tmp_path):
    """Revision 0014 rebuilds SQLite's metrics table: the old table's pages stay in the file (free,
    for new data) until ``--vacuum``, which the upgrade's message names."""
    import sqlalchemy as sa

    from modelyard.store.sql import migrate
    from modelyard.store.sql.engine import create_db_engine

    path = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO metrics (run_id, key, value, timestamp, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
                [(1 + i % 7, f"metric-{i % 5}", i / 3, 1_700_000_000_000 + i, i, 0) for i in range(40_000)],
            )
    finally:
        engine.dispose()
    result = invoke("db", "upgrade", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Database upgraded from 0013 to revision {SCHEMA_HEAD}.\n")
    # each revision is named on stderr as it starts: one line, its docstring's first sentence, cut
    # (other lines there are whatever logging an earlier test of this process left configured)
    shown = [line for line in result.stderr.splitlines() if re.match(r"\d{4} -> \d{4}: ", line)]
    assert len(shown) == 1, result.stderr
    assert shown[0].startswith(
        "0013 -> 0014: SQLite: ``metrics`` becomes a ``WITHOUT ROWID`` table whose primary key"
    )
    assert len(shown[0]) <= len("0013 -> 0014: ") + 100
    assert "are free pages now" in result.stdout and f"db upgrade --vacuum {path}" in result.stdout
    size = path.stat().st_size
    again = invoke("db", "upgrade", "--vacuum", str(path))
    assert again.exit_code == 0, again.output
    assert "already at the newest revision" in again.stdout and "Vacuumed: the file went from" in again.stdout
    assert path.stat().st_size < size * 0.7
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
        assert conn.execute("SELECT count(*), sum(step) FROM metrics").fetchone() == (
            40_000,
            sum(range(40_000)),
        )
    conn.close()
    quiet = invoke("db", "upgrade", str(path))  # nothing free: no hint
    assert quiet.stdout == f"Database is already at the newest revision ({SCHEMA_HEAD}).\n"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        assert sa.inspect(engine).get_pk_constraint("metrics")["name"] == "pk_metrics"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_vacuum_on_a_server_database_says_it_does_nothing(invoke, fresh_postgres_uri):
    result = invoke("db", "upgrade", "--vacuum", fresh_postgres_uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        "--vacuum is for SQLite files; postgresql reclaims space itself: nothing done.\n"
    )
