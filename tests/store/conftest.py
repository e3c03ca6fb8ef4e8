"""Store fixtures: one tracking store per backend, empty at the start of every test.

``store`` is empty for each test; ``module_store`` is shared by one module's read-only tests
(seeded once). The ``test_conformance_*`` modules use only the ``TrackingStore`` protocol, so
adding a backend (e.g. REST against a live server) is one entry in ``BACKENDS`` plus a branch in
``_empty_store``; every conformance test then runs against it too.

- sqlite: a schema migrated once per session into a template file, copied into the test's
  directory (copying is far cheaper than migrating).
- postgresql / mysql: one database per session (see ``tests/conftest.py``); before each test
  every row is deleted (experiment "0" is reset instead) and the schema kept.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from modelyard.store.sql.database import Database
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.sql.migrate import ensure_schema, upgrade
from modelyard.store.sql.schema import full_metadata
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql.store import SqlTrackingStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the schema head (checkpointed, so the file alone is complete)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    SqlTrackingStore.from_uri(f"sqlite:///{path}", default_artifact_root=str(path.parent)).close()
    return path


def _migrated_engine(uri: str) -> Iterator[Engine]:
    engine = create_db_engine(uri)
    ensure_schema(engine, uri)
    yield engine
    engine.dispose()  # before the database fixture drops the database


@pytest.fixture(scope="session")
def postgresql_engine(postgres_uri: str) -> Iterator[Engine]:
    yield from _migrated_engine(postgres_uri)


@pytest.fixture(scope="session")
def mysql_engine(mysql_uri: str) -> Iterator[Engine]:
    yield from _migrated_engine(mysql_uri)


def wipe(engine: Engine, artifact_root: str) -> None:
    """Delete every row (children first) but experiment "0", which is reset as a new store makes it.

    Keeping row 0 spares MySQL the ``ALTER TABLE`` with which a store re-creates it (~60 ms).
    """
    experiments = schema.experiments
    with engine.begin() as conn:
        for table in reversed(full_metadata().sorted_tables):
            where = [experiments.c.experiment_id != 0] if table is experiments else []
            conn.execute(delete(table).where(*where))
        conn.execute(
            update(experiments)
            .where(experiments.c.experiment_id == 0)
            .values(name="Default", lifecycle_stage="active", artifact_location=f"{artifact_root}/0")
        )


def _empty_store(request: pytest.FixtureRequest, backend: str, directory: Path) -> SqlTrackingStore:
    root = str(directory / "artifacts")
    if backend == "sqlite":
        db_file = directory / "modelyard.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), db_file)
        return SqlTrackingStore.from_uri(f"sqlite:///{db_file}", default_artifact_root=root)
    engine = request.getfixturevalue(f"{backend}_engine")
    wipe(engine, root)
    return SqlTrackingStore(Database(engine), root)


def _close(store: SqlTrackingStore) -> None:
    if store.engine.dialect.name == "sqlite":  # server stores share the session's engine
        store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    """An empty tracking store (only experiment "0") for one test, once per backend."""
    store = _empty_store(request, request.param, tmp_path)
    yield store
    _close(store)


@pytest.fixture(scope="module", params=BACKENDS)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlTrackingStore]:
    """An empty store shared by all tests of one module (per backend), for read-only tests over
    data seeded once. A module using it must not also use ``store``, which would wipe it."""
    store = _empty_store(request, request.param, tmp_path_factory.mktemp(f"module-{request.param}"))
    yield store
    _close(store)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ]
)
def old_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own, once per backend, for a test that builds an older
    schema in it and upgrades it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield request.getfixturevalue(f"fresh_{request.param}_uri")


def _runs_at_revision(engine: Engine, revision: str, start_times: Sequence[int | None]) -> dict[str, int]:
    upgrade(engine, revision)
    with engine.begin() as conn:
        exp = conn.execute(
            insert(schema.experiments).values(
                name="old", artifact_location="file:///a", lifecycle_stage="active", creation_time=1, last_update_time=1
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(schema.runs),
            [
                {
                    "run_uuid": f"{i:032x}",
                    "experiment_id": exp,
                    "name": f"r{i}",
                    "user_id": "u",
                    "status": "FINISHED",
                    "start_time": start,
                    "end_time": None,
                    "deleted_time": None,
                    "lifecycle_stage": "active",
                    "artifact_uri": f"file:///a/{i}",
                }
                for i, start in enumerate(start_times)
            ],
        )
        return dict(conn.execute(select(schema.runs.c.name, schema.runs.c.id)).all())


@pytest.fixture
def runs_at_revision() -> Callable[[Engine, str, Sequence[int | None]], dict[str, int]]:
    """``(engine, revision, start_times)``: migrates the empty database to ``revision`` (an older
    schema, for upgrade tests) and adds experiment "old" with one run per start time, named r0, r1,
    ..., written with the tables' SQL (no store, whose code expects the newest schema). Returns the
    runs' ids by name."""
    return _runs_at_revision


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from modelyard.store.sql.migrate import _alembic_config

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


@pytest.fixture
def downgrade_to() -> Callable[[Engine, str], None]:
    """``(engine, revision)``: runs the migrations down to ``revision`` (tests of a revision's
    downgrade; the store has no downgrade of its own)."""
    return _downgrade
