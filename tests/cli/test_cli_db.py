"""`modelyard db upgrade|current`."""

from __future__ import annotations

import json
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
