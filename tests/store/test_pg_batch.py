"""PostgreSQL's one-round-trip log_batch (pgbatch.py) against the general path's rules: texts that
array literals must escape, a param that would change value (nothing of the batch is written),
exact repeats of stored points, the run's name tag, runs that cannot be logged to, and the
statements being prepared once per connection."""

from __future__ import annotations

import math

import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.tracking.sql import pgbatch

AWKWARD = ['a"b', "c\\d", "e,f", "{g}", "h i", "NULL", "", "j'k", "ü✓", 'x\\"}{,']  # values
KEYS = ["NULL", "with space", "a/b:c", "d.e-f", "ü"]  # what key validation lets through


@pytest.fixture
def pg_store(store):
    assert store._pg_batch
    return store


# every test here on PostgreSQL only: the ``store`` fixture (tests/store/conftest.py) for that backend
pytestmark = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


def test_awkward_texts_round_trip(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    params = [Param(f"p{i}", text) for i, text in enumerate(AWKWARD)] + [Param(k, k) for k in KEYS]
    tags = [RunTag(f"t{i}", text) for i, text in enumerate(AWKWARD)] + [RunTag(k, "v") for k in KEYS]
    metrics = [Metric(k, float(i), 1, 0) for i, k in enumerate(KEYS)]
    pg_store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    data = pg_store.get_run(run_id).data
    assert {p.key: p.value for p in params}.items() <= data.params.items()
    assert {t.key: t.value for t in tags}.items() <= data.tags.items()
    assert {m.key: m.value for m in metrics} == data.metrics


def test_a_changed_param_writes_nothing_of_the_batch(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    pg_store.log_batch(run_id, params=[Param("lr", "0.1")])
    with pytest.raises(InvalidParameterValue, match="'lr' \\(old value '0.1', new value '0.2'\\)"):
        pg_store.log_batch(
            run_id,
            params=[Param("lr", "0.2"), Param("new", "1")],
            tags=[RunTag("t", "1")],
            metrics=[Metric("m", 1.0, 1, 0)],
        )
    data = pg_store.get_run(run_id).data
    assert data.params == {"lr": "0.1"} and "t" not in data.tags and data.metrics == {}
    pg_store.log_batch(run_id, params=[Param("lr", "0.1"), Param("new", "1")])  # the same value: fine
    assert pg_store.get_run(run_id).data.params == {"lr": "0.1", "new": "1"}


def test_points_latest_and_repeats(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    pg_store.log_batch(run_id, metrics=[Metric("m", float(s), 100 + s, s) for s in range(5)])
    # repeats of stored points are dropped, older steps kept without becoming the latest
    pg_store.log_batch(
        run_id,
        metrics=[
            Metric("m", 2.0, 102, 2),
            Metric("m", 7.0, 1, 1),
            Metric("m", math.nan, 9, 4),
            Metric("n", -math.inf, 1, 0),
        ],
    )
    history = sorted((m.step, m.timestamp, m.value) for m in pg_store.get_metric_history(run_id, "m"))
    assert history[:3] == [(0, 100, 0.0), (1, 1, 7.0), (1, 101, 1.0)] and len(history) == 7
    data = pg_store.get_run(run_id).data
    assert data.metrics["m"] == 4.0  # (4, 104, 4.0) beats (4, 9, NaN): later timestamp
    assert data.metrics["n"] == -math.inf


def test_run_name_tag_renames_the_run(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 0, run_name="before").info.run_id
    pg_store.log_batch(run_id, tags=[RunTag("mlflow.runName", "after")])
    assert pg_store.get_run(run_id).info.run_name == "after"


def test_unknown_and_deleted_runs(pg_store) -> None:
    with pytest.raises(ResourceDoesNotExist):
        pg_store.log_batch("f" * 32, metrics=[Metric("m", 1.0, 1, 0)])
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    pg_store.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        pg_store.log_batch(run_id, params=[Param("p", "1")], metrics=[Metric("m", 1.0, 1, 0)])
    pg_store.restore_run(run_id)
    assert pg_store.get_run(run_id).data.params == {}


def test_statements_are_prepared_once_per_connection(pg_store, monkeypatch) -> None:
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    pg_store.engine.dispose()  # fresh connections: nothing prepared yet
    seen: list[str] = []
    real = pgbatch._statement

    def spy(*shape):
        name, prepare = real(*shape)
        seen.append(name)
        return name, prepare

    monkeypatch.setattr(pgbatch, "_statement", spy)
    for step in range(5):
        pg_store.log_metric(run_id, Metric("m", 1.0, 1, step))
    with pg_store.db.autocommit() as (conn, info):
        prepared = info[pgbatch._PREPARED]
        names = {row[0] for row in conn.execute("SELECT name FROM pg_prepared_statements").fetchall()}
    assert prepared == names == {pgbatch._LOCK_NAME, seen[0]}
    assert len(pg_store.get_metric_history(run_id, "m")) == 5


def test_get_run_in_one_round_trip_equals_the_general_path(pg_store, monkeypatch) -> None:
    from modelyard.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput

    run_id = pg_store.create_run("0", "u", 0, run_name="full").info.run_id
    pg_store.log_batch(
        run_id,
        metrics=[Metric("b", math.nan, 1, 0), Metric("a", math.inf, 2, 1), Metric("c", -1.5, 3, 2)],
        params=[Param("z", "1"), Param("y", "")],
        tags=[RunTag("t", "v")],
    )
    iris = Dataset("iris", "abc", "local", '{"uri": "x"}', '{"s": 1}', '{"n": 2}')
    pg_store.log_inputs(
        run_id,
        [
            DatasetInput(iris, (InputTag("z", "1"), InputTag("a", "2"))),
            DatasetInput(Dataset("wine", "def", "http", "{}")),
        ],
    )
    out = pg_store.create_logged_model("0", "out", run_id).model_id
    used = pg_store.create_logged_model("0", "used").model_id
    pg_store.log_outputs(run_id, [LoggedModelOutput(out, 5), LoggedModelOutput(out, 0)])
    pg_store.log_model_inputs(run_id, [used])
    fast = pg_store.get_run(run_id)
    monkeypatch.setattr(pg_store, "_pg_batch", False)
    general = pg_store.get_run(run_id)
    assert fast.to_dict() == general.to_dict()
    assert len(fast.inputs.dataset_inputs) == 2 and fast.outputs.model_outputs[0].step == 0
    empty = pg_store.create_run("0", "u", 0).info.run_id
    monkeypatch.setattr(pg_store, "_pg_batch", True)
    assert pg_store.get_run(empty).to_dict()["data"] == pg_store.get_run(empty).to_dict()["data"]
    with pytest.raises(ResourceDoesNotExist):
        pg_store.get_run("f" * 32)


def test_statements_deallocated_behind_our_back_are_prepared_again(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 0).info.run_id
    pg_store.engine.dispose()
    pg_store.log_metric(run_id, Metric("m", 1.0, 1, 0))  # prepares on the pool's one idle connection
    with pg_store.db.autocommit() as (conn, info):
        assert info[pgbatch._PREPARED]
        conn.execute("DEALLOCATE ALL")  # what psycopg sends after a ROLLBACK
    pg_store.log_batch(run_id, params=[Param("p", "1")])  # another shape: prepared, then the lock is missing
    pg_store.log_metric(run_id, Metric("m", 2.0, 2, 1))
    assert pg_store.get_run(run_id).data.metrics == {"m": 2.0}
    assert [m.value for m in pg_store.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_update_run_in_one_statement(pg_store) -> None:
    run_id = pg_store.create_run("0", "u", 5, run_name="first").info.run_id
    info = pg_store.update_run_info(run_id, run_status="FINISHED", end_time=9)
    assert (info.status, info.end_time, info.run_name, info.start_time) == ("FINISHED", 9, "first", 5)
    info = pg_store.update_run_info(run_id, run_name="second")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 9, "second")
    assert pg_store.get_run(run_id).data.tags["mlflow.runName"] == "second"
    assert pg_store.update_run_info(run_id).run_name == "second"  # nothing to change
    with pytest.raises(ResourceDoesNotExist):
        pg_store.update_run_info("f" * 32, run_status="FAILED")
    pg_store.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        pg_store.update_run_info(run_id, run_status="FAILED")
    pg_store.restore_run(run_id)
    assert pg_store.get_run(run_id).info.status == "FINISHED"


def test_create_run_in_one_statement(pg_store, monkeypatch) -> None:
    exp_id = pg_store.create_experiment("fast", artifact_location="s3://bucket/place/")
    used: list[bool] = []
    real = pgbatch.create_run_call

    def spy(*args):  # records what each one-statement create_run answered
        call = real(*args)
        return call._replace(answer=lambda sets: used.append(call.answer(sets)) or used[-1])

    monkeypatch.setattr(pgbatch, "create_run_call", spy)
    run = pg_store.create_run(exp_id, "ann", 7, tags=[RunTag("k", 'v"1')], run_name="named")
    assert used == [True]
    got = pg_store.get_run(run.info.run_id)
    assert got.to_dict() == run.to_dict()
    assert run.info.artifact_uri == f"s3://bucket/place/{run.info.run_id}/artifacts"
    assert got.data.tags == {"k": 'v"1', "mlflow.runName": "named"} and got.info.status == "RUNNING"
    pg_store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        pg_store.create_run(exp_id, "ann", 7)
    assert used == [True, False]  # the general path said why
    with pytest.raises(ResourceDoesNotExist):
        pg_store.create_run("987654", "ann", 7)


def test_search_reads_outside_a_transaction_and_returns_the_connection_as_it_was(pg_store, monkeypatch) -> None:
    """search_runs on PostgreSQL sends no BEGIN/ROLLBACK around its reads; the pooled connection
    goes back in its usual transactional mode (a later write is still all or nothing)."""
    import psycopg

    exp_id = pg_store.create_experiment("autocommit-search")
    run_id = pg_store.create_run(exp_id, "u", 0).info.run_id
    pg_store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")])
    commands: list[bytes] = []
    real = psycopg.Connection._exec_command

    def spy(self, command, *args, **kwargs):
        commands.append(bytes(command) if isinstance(command, (bytes, bytearray)) else command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", spy)
    page = pg_store.search_runs([exp_id], "params.p = '1'", order_by=["metrics.m DESC"])
    assert [r.info.run_id for r in page] == [run_id]
    assert not [c for c in commands if c in (b"BEGIN", b"ROLLBACK", b"COMMIT")], commands
    with pg_store.engine.connect() as conn:
        assert conn.connection.dbapi_connection.autocommit is False
    with pytest.raises(InvalidParameterValue):
        pg_store.log_batch(run_id, metrics=[Metric("m", 2.0, 2, 1)], params=[Param("p", "2")])
    assert pg_store.get_run(run_id).data.metrics == {"m": 1.0}  # nothing of the failed batch


def test_number_literals_read_back_as_the_same_values(pg_store) -> None:
    """The float8[]/int8[] literals (orjson, repr where orjson cannot) hold exactly the values given."""
    floats = [0.1, 1e16, 1e-7, -0.0, 2.5e-308, 1.7976931348623157e308, -1.7976931348623157e308, 1 / 3]
    ints = [0, 1, -1, 2**63 - 1, -(2**63), 1_700_000_000_123]
    with pg_store.db.autocommit() as (conn, _info):
        got_f = conn.execute("SELECT %s::float8[]", (pgbatch._number_array(floats),)).fetchone()[0]
        got_i = conn.execute("SELECT %s::int8[]", (pgbatch._number_array(ints),)).fetchone()[0]
    assert got_f == floats and [math.copysign(1, x) for x in got_f] == [math.copysign(1, x) for x in floats]
    assert got_i == ints
    assert pgbatch._number_array([2**64]) == "{18446744073709551616}"  # past orjson: repr
    assert pgbatch._key_array(["a", 'b"', "a"]) == pgbatch._text_array(["a", 'b"', "a"])


def test_plain_points_as_metric_rows_are_stored_like_entities(pg_store) -> None:
    """What the server's log-batch parser hands over (MetricRows: tuples, no entity per point) is
    stored exactly as the same points given as Metric entities."""
    from modelyard.entities.run import MetricRows

    rows = [("m", 0.5, 10, 0), ("m", float("nan"), 11, 1), ("m", math.inf, 12, 2), ("k", -1.0, 13, 5)]
    by_rows = pg_store.create_run("0", "u", 0).info.run_id
    by_entities = pg_store.create_run("0", "u", 0).info.run_id
    batch = MetricRows(rows)
    assert len(batch) == 4 and batch[1].key == "m" and list(batch) == [Metric(*r) for r in rows]
    assert batch[1:3] == [Metric(*r) for r in rows[1:3]]
    pg_store.log_batch(by_rows, metrics=batch)
    pg_store.log_batch(by_entities, metrics=[Metric(*r) for r in rows])

    def history(run_id: str, key: str) -> list:
        return [(m.value, m.timestamp, m.step) for m in pg_store.get_metric_history(run_id, key)]

    for key in ("m", "k"):
        got, want = history(by_rows, key), history(by_entities, key)
        assert len(got) == len(want) == (3 if key == "m" else 1)
        assert [(str(v), t, s) for v, t, s in got] == [(str(v), t, s) for v, t, s in want]
    latest = {"m": math.inf, "k": -1.0}
    assert pg_store.get_run(by_rows).data.metrics == pg_store.get_run(by_entities).data.metrics == latest
