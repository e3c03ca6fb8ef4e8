"""Filters and ordering compiled to SQL, on a small known data set (SQLite, plus PostgreSQL and
MariaDB when their servers answer). Every expectation is also checked against the in-memory
evaluator, which must agree."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from modelyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from modelyard.exceptions import InvalidParameterValue
from modelyard.search import matches, parse_filter, parse_order_by, sort_experiments, sort_runs
from modelyard.search.evaluate import DATASET_CONTEXT_TAG, clamp
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.sql.migrate import ensure_schema
from modelyard.store.sql.schema import full_metadata
from modelyard.store.tracking import tables as schema
from modelyard.store.tracking.sql.search_tables import (
    apply_experiments_order,
    apply_runs_order,
    experiments_where,
    runs_where,
)


def _run(uuid: str, name: str, start: int | None, metrics: dict, params: dict, tags: dict, inputs=()) -> Run:
    dataset_inputs = tuple(
        DatasetInput(Dataset(n, d, "local", "src"), (InputTag(DATASET_CONTEXT_TAG, c),) if c else ())
        for n, d, c in inputs
    )
    return Run(
        info=RunInfo(uuid, "1", name, "u", "FINISHED", start, None, f"file:///{name}"),
        data=RunData(tuple(Metric(k, v, 0, 0) for k, v in metrics.items()), params, tags),
        inputs=RunInputs(dataset_inputs),
    )


RUNS = [
    _run("r1", "alpha", 3, {"acc": 0.9, "f1 score": 0.5, "loss": math.nan}, {"model": "cnn", "lr": "0.1"},
         {"team": "a", "note": "Hello*World"}, [("mnist", "d1", "train")]),
    _run("r2", "beta", 2, {"acc": 0.7, "loss": 1.0}, {"model": "RNN"}, {"team": "b", "note": "hello[1]"},
         [("mnist", "d2", "eval"), ("cifar", "d3", "train")]),
    _run("r3", "Gamma", None, {"acc": math.inf}, {"model": "cnn", "lr": "0.2"}, {"note": "C:\\path%"}),
    _run("r4", "delta", 2, {}, {}, {"team": "a"}, [("cifar", "d3", None)]),
]  # fmt: skip
NAMES = {r.info.run_id: r.info.run_name for r in RUNS}
EXPERIMENTS = [
    Experiment("1", "exp one", "a", "active", 10, 30, {"owner": "ann"}),
    Experiment("2", "Exp two", "a", "deleted", 20, 20, {}),
    Experiment("3", "three", "a", "active", 20, 10, {"owner": "Bob"}),
]


def _load(conn: sa.Connection) -> None:
    def insert(table: sa.Table, **row: object) -> int:
        return conn.execute(sa.insert(table).values(**row)).inserted_primary_key[0]

    for e in EXPERIMENTS:
        insert(
            schema.experiments,
            experiment_id=int(e.experiment_id),
            name=e.name,
            artifact_location="a",
            lifecycle_stage=e.lifecycle_stage,
            creation_time=e.creation_time,
            last_update_time=e.last_update_time,
        )
        for key, value in e.tags.items():
            insert(schema.experiment_tags, experiment_id=int(e.experiment_id), key=key, value=value)
    datasets: dict[tuple[str, str], int] = {}
    for run in RUNS:
        i = run.info
        pk = insert(
            schema.runs,
            run_uuid=i.run_id,
            experiment_id=1,
            name=i.run_name,
            user_id=i.user_id,
            status=i.status,
            start_time=i.start_time,
            end_time=None,
            lifecycle_stage="active",
            artifact_uri=i.artifact_uri,
        )
        for m in run.data.metric_objs:
            nan = math.isnan(m.value)
            insert(
                schema.latest_metrics,
                run_id=pk,
                key=m.key,
                value=0.0 if nan else clamp(m.value),
                timestamp=0,
                step=0,
                is_nan=nan,
            )
        for table, values in ((schema.params, run.data.params), (schema.tags, run.data.tags)):
            for key, value in values.items():
                insert(table, run_id=pk, key=key, value=value)
        for di in run.inputs.dataset_inputs:
            d = di.dataset
            if (d.name, d.digest) not in datasets:
                datasets[d.name, d.digest] = insert(
                    schema.datasets,
                    experiment_id=1,
                    name=d.name,
                    digest=d.digest,
                    source_type="local",
                    source="src",
                )
            input_id = insert(schema.run_inputs, run_id=pk, dataset_id=datasets[d.name, d.digest])
            for t in di.tags:
                insert(schema.input_tags, input_id=input_id, key=t.key, value=t.value)
    # fmt: skip


BACKENDS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Iterator[sa.Connection]:
    """The data set above in one transaction, rolled back at the end of the module."""
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://")
        with engine.begin() as conn:
            full_metadata().create_all(conn)
    else:
        uri = request.getfixturevalue("postgres_uri" if request.param == "postgresql" else "mysql_uri")
        engine = create_db_engine(uri)
        ensure_schema(engine, uri)
    with engine.connect() as conn, conn.begin() as transaction:
        for table in reversed(full_metadata().sorted_tables):
            conn.execute(sa.delete(table))
        _load(conn)
        yield conn
        transaction.rollback()
    engine.dispose()


def search(conn: sa.Connection, text: str) -> set[str]:
    """Names of the runs the filter selects; asserts the evaluator selects the same."""
    expr = parse_filter(text, "runs")
    selected = {NAMES[u] for u in conn.scalars(sa.select(schema.runs.c.run_uuid).where(runs_where(expr)))}
    assert selected == {r.info.run_name for r in RUNS if matches(expr, r)}
    return selected


def ordered(conn: sa.Connection, *order_by: str) -> list[str]:
    terms = parse_order_by(list(order_by), "runs")
    names = [NAMES[u] for u in conn.scalars(apply_runs_order(sa.select(schema.runs.c.run_uuid), terms))]
    assert names == [r.info.run_name for r in sort_runs(RUNS, terms)]
    return names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.8", {"alpha", "Gamma"}),  # +inf is stored as DBL_MAX and still compares
        ("metrics.acc >= 1e308", {"Gamma"}),
        ("metrics.acc != 0.7", {"alpha", "Gamma"}),  # delta has no acc: never matches, not even !=
        ("metrics.loss != 1", {"alpha"}),  # NaN passes != ...
        ("metrics.loss < 100 OR metrics.loss >= 100", {"beta"}),  # ... and fails everything else
        ("metrics.`f1 score` = 0.5", {"alpha"}),
        ("(metrics.acc > 0.8 OR params.model = 'RNN') AND tags.team = 'a'", {"alpha"}),
        ("metrics.acc > 0.8 OR params.model = 'RNN' AND tags.team = 'a'", {"alpha", "Gamma"}),
        ("NOT metrics.acc > 0.8", {"beta", "delta"}),
        ("params.lr IN ('0.1', '0.2')", {"alpha", "Gamma"}),
        ("params.lr NOT IN ('0.1')", {"Gamma"}),
        ("attributes.run_id IN ('r2', 'r4')", {"beta", "delta"}),
        ("run_name NOT IN ('alpha', 'beta')", {"Gamma", "delta"}),
        ("tags.team IS NULL", {"Gamma"}),
        ("tags.team IS NOT NULL", {"alpha", "beta", "delta"}),
        ("tags.team != 'a'", {"beta"}),
        ("params.model = 'CNN'", set()),  # = is case-sensitive
        ("params.model LIKE 'c%'", {"alpha", "Gamma"}),
        ("params.model LIKE 'R_N'", {"beta"}),
        ("params.model LIKE 'r%'", set()),  # LIKE is case-sensitive, on SQLite too
        ("params.model ILIKE 'r%'", {"beta"}),
        ("tags.note LIKE '%*%'", {"alpha"}),  # GLOB metacharacters are literal
        ("tags.note LIKE 'hello[1]'", {"beta"}),
        ("tags.note ILIKE 'HELLO%'", {"alpha", "beta"}),
        ("tags.note LIKE 'C:\\path%'", {"Gamma"}),  # backslash is literal, % a wildcard
        ("tags.note LIKE 'C:\\path'", set()),
        ("attributes.start_time < 3", {"beta", "delta"}),  # NULL start_time never matches
        ("NOT attributes.start_time < 3", {"alpha", "Gamma"}),
        ("created >= 3", {"alpha"}),
        ("datasets.name = 'cifar'", {"beta", "delta"}),
        ("datasets.context = 'train'", {"alpha", "beta"}),
        ("datasets.context != 'train'", {"beta"}),  # ANY input; inputs without context never match
        ("datasets.digest IN ('d1', 'd3') AND datasets.name = 'mnist'", {"alpha", "beta"}),
        ("datasets.name NOT IN ('mnist')", {"beta", "delta"}),
    ],
)
def test_runs_filter(db: sa.Connection, text: str, expected: set[str]) -> None:
    assert search(db, text) == expected


def test_runs_ordering(db: sa.Connection) -> None:
    # NaN after real values, missing keys last, in both directions; ties: start_time DESC, run_uuid
    assert ordered(db, "metrics.loss") == ["beta", "alpha", "delta", "Gamma"]
    assert ordered(db, "metrics.loss DESC") == ["beta", "alpha", "delta", "Gamma"]
    assert ordered(db, "metrics.acc DESC") == ["Gamma", "alpha", "beta", "delta"]
    assert ordered(db, "params.lr DESC") == ["Gamma", "alpha", "beta", "delta"]
    assert ordered(db, "tags.team", "attributes.run_name DESC") == ["delta", "alpha", "beta", "Gamma"]
    assert ordered(db, "attributes.start_time") == ["beta", "delta", "alpha", "Gamma"]
    assert ordered(db, "created DESC") == ["alpha", "beta", "delta", "Gamma"]
    assert ordered(db) == ["alpha", "beta", "delta", "Gamma"]


def test_ordering_combines_with_filters(db: sa.Connection) -> None:
    expr = parse_filter("tags.team = 'a' OR metrics.acc > 0", "runs")
    stmt = sa.select(schema.runs.c.run_uuid).where(runs_where(expr))
    stmt = apply_runs_order(stmt, parse_order_by(["metrics.acc", "params.model DESC"], "runs"))
    assert [NAMES[u] for u in db.scalars(stmt)] == ["beta", "alpha", "Gamma", "delta"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'exp one'", {"1"}),
        ("name ILIKE 'exp%'", {"1", "2"}),
        ("name LIKE 'exp%'", {"1"}),
        ("experiment_id IN ('1', 3)", {"1", "3"}),
        ("experiment_id = '01'", set()),  # ids are compared as canonical strings
        ("experiment_id != '01'", {"1", "2", "3"}),
        ("experiment_id NOT IN ('2', 'x')", {"1", "3"}),
        ("creation_time >= 20 AND lifecycle_stage = 'active'", {"3"}),
        ("tags.owner ILIKE 'b%'", {"3"}),
        ("tags.owner IS NULL OR last_update_time > 25", {"1", "2"}),
    ],
)
def test_experiments_filter(db: sa.Connection, text: str, expected: set[str]) -> None:
    expr = parse_filter(text, "experiments")
    table = schema.experiments
    selected = {str(i) for i in db.scalars(sa.select(table.c.experiment_id).where(experiments_where(expr)))}
    assert selected == expected == {e.experiment_id for e in EXPERIMENTS if matches(expr, e)}


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], ["2", "3", "1"]),  # MLflow's default: creation_time DESC, experiment_id ASC
        (["creation_time"], ["1", "3", "2"]),  # tie-breaker: experiment_id DESC, as MLflow
        (["last_update_time DESC"], ["1", "2", "3"]),
        (["name"], ["2", "1", "3"]),
    ],
)
def test_experiments_ordering(db: sa.Connection, order_by: list[str], expected: list[str]) -> None:
    terms = parse_order_by(order_by, "experiments")
    ids = [
        str(i)
        for i in db.scalars(apply_experiments_order(sa.select(schema.experiments.c.experiment_id), terms))
    ]
    assert ids == expected == [e.experiment_id for e in sort_experiments(EXPERIMENTS, terms)]


def test_statement_cache_keeps_each_pattern(db: sa.Connection) -> None:
    """The SQLite/other-dialect LIKE switch is cached by shape; each execution binds its own pattern."""
    for _ in range(2):
        assert search(db, "params.model LIKE 'c%'") == {"alpha", "Gamma"}
        assert search(db, "params.model LIKE 'R%'") == {"beta"}


def test_compiled_sql_is_portable() -> None:
    expr = parse_filter("params.p LIKE 'a*%' AND tags.t ILIKE 'B_' AND metrics.m > 1", "runs")
    stmt = apply_runs_order(
        sa.select(schema.runs.c.run_uuid).where(runs_where(expr)), parse_order_by(["metrics.m"], "runs")
    )
    compiled = {
        name: str(stmt.compile(dialect=d.dialect()))
        for name, d in [("sqlite", sqlite), ("pg", postgresql), ("mysql", mysql)]
    }
    assert "GLOB" in compiled["sqlite"] and "LIKE" in compiled["sqlite"]  # GLOB for LIKE, LIKE for ILIKE
    for name in ("pg", "mysql"):
        assert "GLOB" not in compiled[name]
        assert "lower(tags.value) LIKE lower(" in compiled[name]
    assert "ESCAPE '\\'" in compiled["pg"] and "ESCAPE '\\\\'" in compiled["mysql"]
    for name, sql in compiled.items():
        # NULLS LAST only where the dialect has it and an index serves it: PostgreSQL's start_time
        # tie-breaker (index ix_runs_experiment_start_uuid, migration 0009)
        nulls = sql.replace("start_time DESC NULLS LAST", "start_time DESC") if name == "pg" else sql
        assert "NULLS" not in nulls and "LEFT OUTER JOIN latest_metrics AS order_0_metric" in sql
        assert "EXISTS (SELECT 1" in sql
    # fmt: skip


def test_invalid_filters_fail_before_any_sql() -> None:
    with pytest.raises(InvalidParameterValue, match=r"unexpected '\)' at position 14; expected a number"):
        parse_filter("metrics.acc > )", "runs")
    with pytest.raises(InvalidParameterValue, match="LIKE is not allowed on metrics.acc at position 12"):
        parse_filter("metrics.acc LIKE '1'", "runs")
