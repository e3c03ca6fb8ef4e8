"""A database made by modelyard before the SQL kernel (main at 48edeeb, schema revision 0003) upgrades
with ``modelyard db upgrade`` and every row reads back through the stores.

``fixtures/main_48edeeb.db`` was created and filled by that commit's code
(``fixtures/make_main_48edeeb_db.py``): experiments, a run with params, metrics and tags, a logged
model, a registered model with versions, an alias and a stage transition, a webhook with pending
deliveries, and the scoring server's inference log table (made by ``create_all`` back then).
PostgreSQL and MariaDB get the same rows into a database migrated to 0003, then upgrade.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities import ViewType
from modelyard.settings import Settings
from modelyard.store.registry.sql.store import SqlRegistryStore
from modelyard.store.serving.tables import inference_log
from modelyard.store.sql import migrate
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.tracking.sql.store import SqlTrackingStore

FIXTURE = Path(__file__).with_name("fixtures") / "main_48edeeb.db"
RUN_ID = "fe8f1647058f4477b6e82c0fdfec2ef4"
MODEL_ID = "m-8365207c2ea247ddb078dabc79225b4a"
WEBHOOK_ID = "23cf1d18b1ff464e8296c1e04095c6c8"


def _reads_back(uri: str) -> None:
    store = SqlTrackingStore.from_uri(uri, default_artifact_root="file:///new-artifacts")
    registry = SqlRegistryStore.from_tracking_store(store, Settings.defaults(webhook_allow_private_targets=True))
    try:
        exp = store.get_experiment_by_name("old-experiment")
        assert (exp.experiment_id, exp.tags, exp.artifact_location) == ("1", {"owner": "alice"}, "file:///old-artifacts/1")
        (run,) = store.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
        assert (run.info.run_id, run.info.run_name, run.info.user_id) == (RUN_ID, "old-run", "alice")
        assert (run.info.status, run.info.start_time, run.info.end_time) == ("FINISHED", 1_700_000_000_000, 1_700_000_100_000)
        assert run.data.params == {"lr": "0.1", "depth": "6"}
        assert run.data.metrics["loss"] == 0.25 and math.isnan(run.data.metrics["acc"])
        assert {k: run.data.tags[k] for k in ("team", "stage", "mlflow.runName")} == {
            "team": "ml", "stage": "baseline", "mlflow.runName": "old-run"
        }
        history = store.get_metric_history(RUN_ID, "loss")
        assert [(m.step, m.value, m.timestamp) for m in history] == [(0, 0.5, 1_700_000_000_001), (1, 0.25, 1_700_000_000_002)]
        model = store.get_logged_model(MODEL_ID)
        assert (model.name, model.source_run_id, model.status.value, model.params) == ("model", RUN_ID, "LOGGED_MODEL_READY", {"alpha": "1"})
        assert model.tags["flavor"] == "sklearn"
        assert [m.model_id for m in store.search_logged_models([exp.experiment_id])] == [MODEL_ID]

        rm = registry.get_registered_model("churn")
        assert (rm.description, rm.tags, rm.aliases) == ("churn model", {"domain": "retail"}, {"champion": "1"})
        v1, v2 = registry.get_model_version("churn", "1"), registry.get_model_version("churn", "2")
        assert (v1.model_id, v1.run_id, v1.tags, v1.current_stage) == (MODEL_ID, RUN_ID, {"validated": "yes"}, "None")
        assert (v2.source, v2.current_stage) == (f"runs:/{RUN_ID}/model", "Staging")
        assert registry.get_model_version_by_alias("churn", "champion").version == "1"
        events = {(e.kind, e.target, e.action) for e in registry.get_promotion_history("churn")}
        assert events == {("alias", "champion", "created"), ("stage", "Staging", "transitioned")}

        (hook,) = registry.list_webhooks()
        assert (hook.webhook_id, hook.name, hook.secret) == (WEBHOOK_ID, "old-hook", "s3cret")
        log = list(registry.list_webhook_deliveries(WEBHOOK_ID))
        assert [(d.status, d.attempts, d.is_test) for d in log] == [("PENDING", 0, False)] * 2
        # The pending deliveries were moved onto the queue: the worker claims them, bodies intact.
        claims = registry.claim_webhook_deliveries(10, 60_000, "upgrade-test")
        assert sorted(c["delivery_id"] for c in claims) == sorted(d.delivery_id for d in log)
        assert {json.loads(c["payload"])["data"]["version"] for c in claims} == {"1", "2"}

        with store.db.read() as conn:
            rows = conn.execute(sa.select(inference_log).order_by(inference_log.c.id)).all()
        assert [(r.request_id, r.model, r.status, r.response) for r in rows] == [
            ("r1", "churn", 200, '{"predictions": [0]}'),
            ("r2", "churn", 200, '{"predictions": [1]}'),
        ]
        new = store.create_run(exp.experiment_id, "bob", None)  # and the upgraded database takes writes
        assert store.get_run(new.info.run_id).info.user_id == "bob"
    finally:
        store.close()


def test_a_sqlite_database_of_main_48edeeb_upgrades_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    uri = f"sqlite:///{path}"
    result = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert result.exit_code == 0, result.output
    assert f"upgraded from 0003 to revision {migrate.SCHEMA_HEAD}" in result.output
    _reads_back(uri)


def _old_inference_log(metadata: sa.MetaData) -> sa.Table:
    """The table as main's scoring server made it with ``create_all``."""
    return sa.Table(
        "modelyard_inference_log", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), index=True),
        sa.Column("time", sa.DateTime(timezone=True), index=True),
        sa.Column("model", sa.String(256)),
        sa.Column("version", sa.String(128)),
        sa.Column("status", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("content_type", sa.String(128)),
        sa.Column("request", sa.Text),
        sa.Column("response", sa.Text),
    )


def _copy_fixture_rows(engine: sa.Engine, scratch: Path) -> None:
    """Every row of the fixture into ``engine``'s database (at revision 0003), ids and all."""
    shutil.copyfile(FIXTURE, scratch / "source.db")
    source = sa.create_engine(f"sqlite:///{scratch / 'source.db'}")
    old, new = sa.MetaData(), sa.MetaData()
    old.reflect(source)
    _old_inference_log(new).create(engine)
    new.reflect(engine)
    with source.connect() as src, engine.begin() as dst:
        if engine.dialect.name == "mysql":  # experiment 0 keeps its id
            dst.execute(sa.text("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"))
        for table in new.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(r._mapping) for r in src.execute(sa.select(old.tables[table.name]))]
            if rows:
                dst.execute(table.insert(), rows)
            key = [c.name for c in table.primary_key.columns if c.autoincrement is True or c.name in ("id", "experiment_id")]
            if engine.dialect.name == "postgresql" and len(table.primary_key.columns) == 1 and key and rows:
                dst.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key[0]}'), "
                                    f"(SELECT max({key[0]}) FROM {table.name}))"))
    source.dispose()


@pytest.fixture
def fresh_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue(f"fresh_{request.param}_uri")


@pytest.mark.parametrize(
    "fresh_uri",
    [
        pytest.param("postgres", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)
def test_a_server_database_at_0003_upgrades_and_reads_back(fresh_uri: str, tmp_path: Path) -> None:
    engine = create_db_engine(fresh_uri)
    try:
        migrate.upgrade(engine, "0003")
        _copy_fixture_rows(engine, tmp_path)
        assert migrate.current_revision(engine) == "0003"
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    finally:
        engine.dispose()
    _reads_back(fresh_uri)


def test_a_database_holding_only_an_old_inference_log_is_adopted(tmp_path: Path) -> None:
    """The scoring server's own log database (made by ``create_all``) migrates without loss."""
    uri = f"sqlite:///{tmp_path / 'log.db'}"
    engine = create_db_engine(uri)
    table = _old_inference_log(sa.MetaData())
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values(request_id="r0", model="m", status=200))
    assert migrate.current_revision(engine) is None  # nothing the chain does not adopt
    engine.dispose()
    from modelyard.serving.inference_log import SqlSink

    sink = SqlSink(uri)
    sink.write([{"request_id": "r1", "model": "m", "status": 201}])
    sink.close()
    engine = create_db_engine(uri)
    assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.request_id, table.c.status).order_by(table.c.id)).all() == [
            ("r0", 200), ("r1", 201)
        ]
    engine.dispose()
