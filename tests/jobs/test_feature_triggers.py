"""A feature table's new version fires ``feature_table_updated`` triggers by itself: the feature
catalog puts ``feature_table.updated`` on the kernel's event queue in the transaction that records
the version, and the scheduler (any of several) turns each into one run per job, keyed
``<table>@<version>``. Through the embedded FeatureClient (SQLite, PostgreSQL) and through the
server's REST routes (catalog calls and Arrow data routes)."""

import time
import uuid

import pandas as pd
import pyarrow as pa
import pytest
from jobhelpers import Env, serve, task

from modelyard.features import FeatureClient
from modelyard.jobs.scheduler import Scheduler
from modelyard.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def fenv(request, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_uri")
    e = Env(uri, tmp_path)
    yield e
    e.close()


def _deploy(env, name, table):
    env.jobs.deploy(env.ctx, {"name": name, "triggers": [{"on": "feature_table_updated", "table": table}],
                              "tasks": [task("a", "jobtasks:noop")]})


def _runs(env, name):
    return sorted(env.jobs.list_runs(env.ctx, name, 100), key=lambda r: r.trigger_detail["payload"]["version"])


def _frame(ids, value):
    return pd.DataFrame({"customer_id": ids, "spend": [float(value)] * len(ids)})


def _drain(*schedulers):
    """Every scheduler consumes until the queue is empty; how many events each one handled."""
    handled = [0] * len(schedulers)
    while True:
        got = [s.consume_registry_events(limit=1) for s in schedulers]
        if not any(got):
            return handled
        handled = [a + b for a, b in zip(handled, got, strict=True)]


def test_each_new_version_fires_once_with_two_schedulers(fenv, name):
    env = fenv
    table, other = f"churn_{uuid.uuid4().hex[:6]}.customer_features", f"other_{uuid.uuid4().hex[:6]}.t"
    _deploy(env, name, table)
    _deploy(env, name + "-other", other)
    time.sleep(0.01)  # jobs see events committed after they were deployed
    fc = FeatureClient(env.config.tracking_uri, env.ctx.settings)
    fc.create_table(table, primary_keys="customer_id", df=_frame([1, 2], 1))  # version 0
    fc.write_table(table, _frame([2, 3], 2))  # merge: version 1 (1 updated, 1 inserted)
    fc.write_table(table, _frame([5], 3), mode="overwrite")  # version 2
    fc.create_table(table + "-empty", primary_keys="customer_id",
                    schema=pa.schema([("customer_id", pa.int64()), ("spend", pa.float64())]))  # no data: no event
    second = Scheduler(env.jobs, env.tracking, None, env.ctx, env.config)
    try:
        handled = _drain(env.scheduler, second)
        assert sum(handled) == 3 and min(handled) >= 1  # both took part; each event was handled once
        assert _drain(env.scheduler, second) == [0, 0]
        env.scheduler.run_once()
    finally:
        second.stop()
    runs = _runs(env, name)
    assert [r.trigger for r in runs] == ["feature_table_updated"] * 3
    payloads = [r.trigger_detail["payload"] for r in runs]
    assert payloads == [
        {"table": table, "version": 0, "operation": "create", "rows_written": 2, "rows_inserted": 2, "rows_updated": None},
        {"table": table, "version": 1, "operation": "merge", "rows_written": 2, "rows_inserted": 1, "rows_updated": 1},
        {"table": table, "version": 2, "operation": "overwrite", "rows_written": 1, "rows_inserted": 1, "rows_updated": None},
    ]
    assert env.jobs.list_runs(env.ctx, name + "-other", 100) == []  # a table the trigger does not name
    # the same version recorded again (a catalog update that makes no new version) emits nothing
    fc.store.update_feature_table(table, description="same version")
    assert _drain(env.scheduler) == [0]
    assert len(env.jobs.list_runs(env.ctx, name, 100)) == 3


def test_a_failed_catalog_update_emits_nothing(fenv, name):
    """The event commits with the version: a catalog write that rolls back leaves no event."""
    from modelyard.exceptions import InvalidParameterValue

    env = fenv
    table = f"t_{uuid.uuid4().hex[:6]}"
    _deploy(env, name, table)
    time.sleep(0.01)
    fc = FeatureClient(env.config.tracking_uri, env.ctx.settings)
    fc.create_table(table, primary_keys="customer_id", df=_frame([1], 1))
    assert _drain(env.scheduler) == [1]
    with pytest.raises(InvalidParameterValue, match="operation must be one of"):
        fc.store.update_feature_table(table, version=7, change={"operation": "explode"})
    assert fc.get_table(table).current_version == 0
    assert _drain(env.scheduler) == [0]


def test_writes_through_the_server_fire_the_trigger(env, name, tmp_path):
    """Catalog calls over REST (the client writes the files) and table data sent to the server
    (Arrow IPC routes): each new version, one run."""
    settings = Settings.defaults(backend_store_uri=env.config.tracking_uri, artifacts_destination=str(tmp_path / "a"),
                                 serve_artifacts=True)
    table = f"rest_{uuid.uuid4().hex[:6]}.cf"
    _deploy(env, name, table)
    time.sleep(0.01)
    with serve(settings) as (url, _services):
        files = FeatureClient(url)
        files.create_table(table, primary_keys="customer_id", df=_frame([1, 2], 1))  # v0 via /create
        files.write_table(table, _frame([3], 2))  # v1 via /update
        through = FeatureClient(url, data_via_server=True)
        through.write_table(table, _frame([1], 3), mode="overwrite")  # v2 via the Arrow write route
        assert through.get_table(table).current_version == 2
    assert _drain(env.scheduler) == [3]
    runs = _runs(env, name)
    assert [(p["version"], p["operation"], p["rows_written"]) for p in (r.trigger_detail["payload"] for r in runs)] == [
        (0, "create", 2), (1, "merge", 1), (2, "overwrite", 1)]
