"""The Alembic migrations: they build exactly ``full_metadata()`` (every domain's tables), the head is ``SCHEMA_HEAD``,
and a database at another revision is refused with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from modelyard.exceptions import InvalidState
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.sql.schema import compared_on, full_metadata
from modelyard.store.tracking.sql.store import SqlTrackingStore


def schema_diffs(engine: Engine) -> list:
    with engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True, "include_object": compared_on(conn.dialect)}
        context = MigrationContext.configure(conn, opts=opts)
        return compare_metadata(context, full_metadata())


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    yield engine
    engine.dispose()


def test_schema_head_is_alembic_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [migrate.SCHEMA_HEAD]


def test_migrated_sqlite_matches_metadata(sqlite_engine: Engine) -> None:
    migrate.upgrade(sqlite_engine)
    assert migrate.current_revision(sqlite_engine) == migrate.SCHEMA_HEAD
    assert schema_diffs(sqlite_engine) == []


@pytest.mark.postgres
def test_migrated_postgresql_matches_metadata(postgresql_engine: Engine) -> None:
    assert migrate.current_revision(postgresql_engine) == migrate.SCHEMA_HEAD
    assert schema_diffs(postgresql_engine) == []


@pytest.mark.mysql
def test_migrated_mysql_matches_metadata(mysql_engine: Engine) -> None:
    assert migrate.current_revision(mysql_engine) == migrate.SCHEMA_HEAD
    assert schema_diffs(mysql_engine) == []


@pytest.mark.mysql
def test_mysql_string_columns_compare_exactly(mysql_engine: Engine) -> None:
    """Binary NO PAD collation: case and trailing spaces count in =, LIKE and unique keys."""
    with mysql_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND collation_name IS NOT NULL AND table_name != 'alembic_version'"
            )
        ).all()
    assert rows
    assert {collation for _, _, collation in rows} <= {"utf8mb4_nopad_bin", "utf8mb4_0900_bin"}, rows


def test_downgrade_then_upgrade(sqlite_engine: Engine) -> None:
    from alembic import command

    migrate.upgrade(sqlite_engine)
    with sqlite_engine.begin() as conn:
        command.downgrade(migrate._alembic_config(conn), "base")
    assert set(inspect(sqlite_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(sqlite_engine)
    assert schema_diffs(sqlite_engine) == []


def test_new_database_is_migrated_on_open(tmp_path: Path) -> None:
    store = SqlTrackingStore.from_uri(f"sqlite:///{tmp_path / 'new.db'}", default_artifact_root=str(tmp_path))
    assert migrate.current_revision(store.engine) == migrate.SCHEMA_HEAD
    assert store.get_experiment("0").name == "Default"
    store.close()


@pytest.mark.parametrize("revision", ["0000", "ffff_from_the_future"])
def test_database_at_other_revision_is_refused(tmp_path: Path, revision: str) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path)).close()
    engine = create_db_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()
    with pytest.raises(InvalidState, match="modelyard db upgrade") as caught:
        SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path))
    assert revision in caught.value.message and uri in caught.value.message


def test_database_without_version_is_refused(tmp_path: Path) -> None:
    """Tables but no alembic_version (e.g. made by hand or by another tool): unknown revision."""
    uri = f"sqlite:///{tmp_path / 'foreign.db'}"
    engine = create_db_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(InvalidState, match="modelyard db upgrade"):
        SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path))
