"""Property tests of the search grammar.

1. ``parse(render(ast)) == ast`` for random ASTs of every entity;
2. random text only ever raises ``InvalidParameterValue``;
3. SQL (SQLite, through ``store/sql/search.py``) and the in-memory evaluator select
   and order exactly the same runs / experiments on random data.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from modelyard.search import (
    And,
    Comparison,
    Not,
    Or,
    OrderBy,
    decode_page_token,
    matches,
    parse_filter,
    parse_order_by,
    render,
    render_order_by,
    sort_experiments,
    sort_runs,
)
from modelyard.search.ast import LIST_OPS, NULL_OPS, NUMERIC_OPS
from modelyard.search.evaluate import DATASET_CONTEXT_TAG, clamp
from modelyard.search.parser import ENTITIES, EntityConfig, Field
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

FAST = settings(max_examples=100, deadline=None)
RUNS_DB = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DB = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- strategies -----------------------------------------------------------------------------
def comparisons(
    config: EntityConfig,
    keys: Callable[[str], st.SearchStrategy[str]],
    scalars: Callable[[Field, str], st.SearchStrategy],
) -> st.SearchStrategy[Comparison]:
    """Valid comparisons of ``config``: a kind, then a field, then an operator, each uniformly
    (``flatmap`` keeps Hypothesis from flattening the choice, which would favour attributes).

    ``keys(kind)`` draws keys of open kinds (metrics, params, tags); ``scalars(field, key)``
    draws values.
    """

    def pick(options: list[st.SearchStrategy]) -> st.SearchStrategy:
        return st.sampled_from(options).flatmap(lambda strategy: strategy)

    def field(kind: str, keys_: st.SearchStrategy[str], spec: Field, name: str) -> st.SearchStrategy:
        scalar = scalars(spec, name)
        by_op = []
        for op in spec.ops:
            if op in NULL_OPS:
                value: st.SearchStrategy = st.none()
            elif op in LIST_OPS:
                value = st.lists(scalar, min_size=1, max_size=3).map(tuple)
            else:
                value = scalar
            by_op.append(st.builds(Comparison, st.just(kind), keys_, st.just(op), value))
        return pick(by_op)

    per_kind = [field(kind, keys(kind), spec, kind) for kind, spec in config.open_kinds.items()]
    for kind, keyed in config.closed_kinds.items():
        per_kind.append(pick([field(kind, st.just(key), spec, key) for key, spec in keyed.items()]))
    return pick(per_kind)


def trees(leaves: st.SearchStrategy) -> st.SearchStrategy:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        group = st.lists(children, min_size=2, max_size=3).map(tuple)
        return group.map(And) | group.map(Or) | children.map(Not)

    return st.recursive(leaves, extend, max_leaves=8)


_ANY_SCALAR = {
    "number": st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False),
    "id": st.from_regex(r"[0-9]{1,5}", fullmatch=True) | st.text(max_size=5),
    "string": st.text(max_size=8),
}
_ANY_KEY = st.text(min_size=1, max_size=8)
ANY_FILTER = {
    name: trees(comparisons(config, lambda kind: _ANY_KEY, lambda spec, key: _ANY_SCALAR[spec.value]))
    for name, config in ENTITIES.items()
}


# -- 1. round trip -------------------------------------------------------------------------
@FAST
@given(data=st.data(), entity=st.sampled_from(sorted(ENTITIES)))
def test_render_then_parse_is_identity(data: st.DataObject, entity: str) -> None:
    expr = data.draw(ANY_FILTER[entity])
    text = render(expr)
    assert parse_filter(text, entity) == expr, text


@FAST
@given(entity=st.sampled_from(sorted(ENTITIES)), data=st.data())
def test_order_by_round_trip(entity: str, data: st.DataObject) -> None:
    config = ENTITIES[entity]
    kind = data.draw(st.sampled_from(sorted(config.order_kinds) + ["attribute"]))
    if kind == "attribute":
        key = data.draw(st.sampled_from(sorted(set(config.order_names.values()))))
    else:
        key = data.draw(_ANY_KEY)
    term = OrderBy(kind, key, data.draw(st.booleans()))
    assert parse_order_by([render_order_by(term)], entity) == [term]


# -- 2. garbage in, InvalidParameterValue out ----------------------------------------------
_FRAGMENTS = st.sampled_from(
    'metrics. params.p tags.`a b` tags."k" attributes.start_time attr.status datasets.name run_name '
    "created = != <> < <= > >= LIKE ilike IN NOT not IS NULL AND or ( ) , 'x' \"y\" ' \" ` 1 -2.5 "
    "1e999 .5 - 99999999999999999999999 ASC DESC \\ % _ é \x00".split(" ")
)
_GARBAGE = (
    st.text(max_size=40)
    | st.lists(_FRAGMENTS, max_size=12).map(" ".join)
    | st.lists(_FRAGMENTS, max_size=12).map("".join)
)


@contextmanager
def _tolerate_invalid() -> Iterator[None]:
    try:
        yield
    except InvalidParameterValue:
        pass


@settings(max_examples=400, deadline=None)
@given(text=_GARBAGE, entity=st.sampled_from(sorted(ENTITIES)))
def test_garbage_raises_only_invalid_parameter_value(text: str, entity: str) -> None:
    try:
        expr = parse_filter(text, entity)
    except InvalidParameterValue as exc:
        assert exc.message.startswith("Invalid filter")
    else:
        if expr is not None:  # whatever parses renders back to itself
            assert parse_filter(render(expr), entity) == expr
    with _tolerate_invalid():
        parse_order_by([text], entity)
    with _tolerate_invalid():
        decode_page_token(text)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for text in ["(" * 5000 + "metrics.a > 1" + ")" * 5000, "NOT " * 5000 + "metrics.a > 1"]:
        with pytest.raises(InvalidParameterValue, match="nested more than 64 levels"):
            parse_filter(text, "runs")


# -- 3. SQL and the evaluator agree --------------------------------------------------------
ALPHABET = "aAbB%_\\*[? 中"  # LIKE and GLOB metacharacters, both cases, a non-ASCII character
TEXT = st.text(ALPHABET, max_size=3)
NUMBERS = [-1.5, -1, 0, 1, 2.5, 3, -0.0, sys.float_info.max, -sys.float_info.max]
METRIC_VALUES = [math.nan, math.nan, math.inf, -math.inf, sys.float_info.max, -1.5, 0.0, -0.0, 1.0, 2.5]
DATASETS = [("ds", "d1"), ("ds", "d2"), ("DS_b", "d3")]
_FIELD_VALUES = {
    "status": ["RUNNING", "running", "FIN%", "%ED"],
    "user_id": ["u", "U"],
    "lifecycle_stage": ["active", "deleted", "Active"],
    "name": ["ds", "DS_b", "d_", "%s%", "%#1", "a%"],
    "digest": ["d1", "d2", "d_", "D%"],
    "context": ["train", "TRAIN", "%r%", "eval"],
    "run_id": ["r000", "r%", "R%"],
}


def data_scalars(spec: Field, key: str) -> st.SearchStrategy:
    if spec.value == "number":
        return st.sampled_from(NUMBERS)
    if spec.value == "id":
        return st.sampled_from(["1", "2", "01", "x", "12", ""])
    return TEXT | st.sampled_from(_FIELD_VALUES.get(key, ["a", "A%", "%*%", "[a]%", "\\%"]))


_RUN_KEYS = {"metric": ["m1", "m2", "zz"], "param": ["p1", "p2", "zz"], "tag": ["t1", "t 2", "zz"]}
RUN_FILTERS = trees(comparisons(ENTITIES["runs"], lambda k: st.sampled_from(_RUN_KEYS[k]), data_scalars))
EXPERIMENT_FILTERS = trees(
    comparisons(ENTITIES["experiments"], lambda k: st.sampled_from(["t1", "t2", "zz"]), data_scalars)
)

_RUN_FIELDS = st.fixed_dictionaries(
    {
        "uuid": st.integers(0, 99),
        "run_name": TEXT,
        "user_id": st.sampled_from(["u", "U"]),
        "status": st.sampled_from(["RUNNING", "FINISHED", "FAILED"]),
        "start_time": st.none() | st.integers(0, 4),
        "end_time": st.none() | st.integers(0, 4),
        "artifact_uri": TEXT,
        "lifecycle_stage": st.sampled_from(["active", "deleted"]),
        "metrics": st.dictionaries(st.sampled_from(["m1", "m2"]), st.sampled_from(METRIC_VALUES)),
        "params": st.dictionaries(st.sampled_from(["p1", "p2"]), TEXT),
        "tags": st.dictionaries(st.sampled_from(["t1", "t 2"]), TEXT),
        "inputs": st.lists(
            st.tuples(st.sampled_from(DATASETS), st.none() | st.sampled_from(["train", "Train", "eval"])),
            max_size=3,
            unique_by=lambda pair: pair[0],
        ),
    }
)


def _run(i: int, f: dict) -> Run:
    inputs = tuple(
        DatasetInput(
            Dataset(name, digest, "local", "src"),
            (InputTag(DATASET_CONTEXT_TAG, context),) if context else (),
        )
        for (name, digest), context in f["inputs"]
    )
    info = RunInfo(
        run_id=f"r{f['uuid']:02d}{i}",
        experiment_id="1",
        lifecycle_stage=f["lifecycle_stage"],
        **{k: f[k] for k in ("run_name", "user_id", "status", "start_time", "end_time", "artifact_uri")},
    )
    metrics = tuple(Metric(k, v, 0, 0) for k, v in f["metrics"].items())
    data = RunData(metric_objs=metrics, params=f["params"], tags=f["tags"])
    return Run(info=info, data=data, inputs=RunInputs(dataset_inputs=inputs))


RUNS = st.lists(_RUN_FIELDS, min_size=1, max_size=6).map(lambda fs: [_run(i, f) for i, f in enumerate(fs)])

_EXPERIMENT_FIELDS = st.fixed_dictionaries(
    {
        "name": TEXT,
        "lifecycle_stage": st.sampled_from(["active", "deleted"]),
        "creation_time": st.integers(0, 3),
        "last_update_time": st.integers(0, 3),
        "tags": st.dictionaries(st.sampled_from(["t1", "t2"]), TEXT),
    }
)
EXPERIMENTS = st.dictionaries(st.integers(1, 12), _EXPERIMENT_FIELDS, min_size=1, max_size=5).map(
    lambda by_id: [
        Experiment(experiment_id=str(i), artifact_location="a", **(f | {"name": f"{f['name']}#{i}"}))
        for i, f in by_id.items()
    ]
)


def _insert(conn: sa.Connection, table: sa.Table, **row: object) -> int:
    return conn.execute(sa.insert(table).values(**row)).inserted_primary_key[0]


def load_runs(conn: sa.Connection, runs: list[Run]) -> None:
    """Store ``runs`` directly through the schema tables, as the SQL store would."""
    _insert(conn, schema.experiments, experiment_id=1, name="e", artifact_location="a",
            lifecycle_stage="active", creation_time=0, last_update_time=0)  # fmt: skip
    dataset_ids: dict[tuple[str, str], int] = {}
    for run in runs:
        i = run.info
        pk = _insert(conn, schema.runs, run_uuid=i.run_id, experiment_id=1, name=i.run_name,
                     user_id=i.user_id, status=i.status, start_time=i.start_time, end_time=i.end_time,
                     lifecycle_stage=i.lifecycle_stage, artifact_uri=i.artifact_uri)  # fmt: skip
        for m in run.data.metric_objs:
            nan = math.isnan(m.value)
            _insert(conn, schema.latest_metrics, run_id=pk, key=m.key, timestamp=0, step=0,
                    is_nan=nan, value=0.0 if nan else clamp(m.value))  # fmt: skip
        for table, values in ((schema.params, run.data.params), (schema.tags, run.data.tags)):
            for key, value in values.items():
                _insert(conn, table, run_id=pk, key=key, value=value)
        for dataset_input in run.inputs.dataset_inputs:
            d = dataset_input.dataset
            if (d.name, d.digest) not in dataset_ids:
                dataset_ids[d.name, d.digest] = _insert(
                    conn, schema.datasets, experiment_id=1, name=d.name, digest=d.digest,
                    source_type="local", source="src",
                )  # fmt: skip
            input_id = _insert(conn, schema.run_inputs, run_id=pk, dataset_id=dataset_ids[d.name, d.digest])
            for tag in dataset_input.tags:
                _insert(conn, schema.input_tags, input_id=input_id, key=tag.key, value=tag.value)


def load_experiments(conn: sa.Connection, experiments: list[Experiment]) -> None:
    for e in experiments:
        _insert(conn, schema.experiments, experiment_id=int(e.experiment_id), name=e.name,
                artifact_location="a", lifecycle_stage=e.lifecycle_stage,
                creation_time=e.creation_time, last_update_time=e.last_update_time)  # fmt: skip
        for key, value in e.tags.items():
            _insert(conn, schema.experiment_tags, experiment_id=int(e.experiment_id), key=key, value=value)


# -- databases: SQLite always, PostgreSQL and MariaDB when their servers answer --------------
SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def _connect(request: pytest.FixtureRequest, backend: str) -> Iterator[sa.Connection]:
    if backend == "sqlite":
        engine = sa.create_engine("sqlite://")
        with engine.begin() as conn:
            full_metadata().create_all(conn)
    else:  # this session's PostgreSQL / MariaDB database (tests/conftest.py), migrated
        uri = request.getfixturevalue("postgres_uri" if backend == "postgresql" else "mysql_uri")
        engine = create_db_engine(uri)
        ensure_schema(engine, uri)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_db(request: pytest.FixtureRequest) -> Iterator[sa.Connection]:
    yield from _connect(request, "sqlite")


@pytest.fixture(scope="module", params=SERVERS)
def server_db(request: pytest.FixtureRequest) -> Iterator[sa.Connection]:
    yield from _connect(request, request.param)


@pytest.fixture(scope="module", params=["sqlite", *SERVERS])
def any_db(request: pytest.FixtureRequest) -> Iterator[sa.Connection]:
    yield from _connect(request, request.param)


@contextmanager
def _fresh(conn: sa.Connection) -> Iterator[sa.Connection]:
    """An empty database for one example: delete every row, then roll it all back."""
    transaction = conn.begin()
    try:
        for table in reversed(full_metadata().sorted_tables):
            conn.execute(sa.delete(table))
        yield conn
    finally:
        transaction.rollback()


def assert_runs_agree(conn: sa.Connection, runs: list[Run], exprs: list, order_by: list) -> None:
    """SQL selects (and orders) exactly the runs that the evaluator does."""
    uuid = schema.runs.c.run_uuid
    with _fresh(conn):
        load_runs(conn, runs)
        for expr in exprs:
            selected = set(conn.scalars(sa.select(uuid).where(runs_where(expr))))
            assert selected == {r.info.run_id for r in runs if matches(expr, r)}, render(expr)
        if order_by is None:
            return
        for expr in [None, *exprs[:1]]:
            ordered = conn.scalars(apply_runs_order(sa.select(uuid).where(runs_where(expr)), order_by))
            expected = sort_runs([r for r in runs if matches(expr, r)], order_by)
            assert list(ordered) == [r.info.run_id for r in expected], order_by


def assert_experiments_agree(conn: sa.Connection, experiments: list, exprs: list, order_by: list) -> None:
    table = schema.experiments
    with _fresh(conn):
        load_experiments(conn, experiments)
        for expr in exprs:
            selected = conn.scalars(sa.select(table.c.experiment_id).where(experiments_where(expr)))
            expected = {e.experiment_id for e in experiments if matches(expr, e)}
            assert {str(i) for i in selected} == expected, render(expr)
        ordered = conn.scalars(apply_experiments_order(sa.select(table.c.experiment_id), order_by))
        assert [str(i) for i in ordered] == [e.experiment_id for e in sort_experiments(experiments, order_by)]


_RUN_ORDER_TERMS = [("metric", "m1"), ("metric", "m2"), ("metric", "zz"), ("param", "p1"), ("tag", "t 2")]
_RUN_ORDER_TERMS += [
    ("attribute", k) for k in ("run_name", "start_time", "end_time", "status", "run_id", "user_id")
]
RUN_ORDER = st.lists(
    st.builds(lambda term, asc: OrderBy(*term, asc), st.sampled_from(_RUN_ORDER_TERMS), st.booleans()),
    max_size=3,
    unique_by=lambda t: (t.kind, t.key),
)
EXPERIMENT_ORDER = st.lists(
    st.builds(
        lambda key, asc: OrderBy("attribute", key, asc),
        st.sampled_from(sorted(set(ENTITIES["experiments"].order_names.values()))),
        st.booleans(),
    ),
    max_size=3,
    unique_by=lambda t: t.key,
)
RUN_CASES = {"runs": RUNS, "exprs": st.lists(RUN_FILTERS, min_size=1, max_size=6), "order_by": RUN_ORDER}
EXPERIMENT_CASES = {
    "experiments": EXPERIMENTS,
    "exprs": st.lists(EXPERIMENT_FILTERS, min_size=1, max_size=4),
    "order_by": EXPERIMENT_ORDER,
}
# Servers cost a network round trip per statement: fewer examples there, the grids below do the rest.
SERVER_DB = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RUNS_DB
@given(**RUN_CASES)
def test_sqlite_and_evaluator_agree_on_runs(sqlite_db: sa.Connection, runs, exprs, order_by) -> None:
    assert_runs_agree(sqlite_db, runs, exprs, order_by)


@SERVER_DB
@given(**RUN_CASES)
def test_server_and_evaluator_agree_on_runs(server_db: sa.Connection, runs, exprs, order_by) -> None:
    assert_runs_agree(server_db, runs, exprs, order_by)


@DB
@given(**EXPERIMENT_CASES)
def test_sqlite_and_evaluator_agree_on_experiments(
    sqlite_db: sa.Connection, experiments, exprs, order_by
) -> None:
    assert_experiments_agree(sqlite_db, experiments, exprs, order_by)


@SERVER_DB
@given(**EXPERIMENT_CASES)
def test_server_and_evaluator_agree_on_experiments(
    server_db: sa.Connection, experiments, exprs, order_by
) -> None:
    assert_experiments_agree(server_db, experiments, exprs, order_by)


# -- exhaustive grids of the edge cases (too rare for random generation to hit reliably) ---
GRID_STRINGS = ["", "a", "A", "ab", "aB", "a ", "a%", "a_b", "a\\b", "a*", "a?", "[a]", "中", "a\nb", "%"]
GRID_PATTERNS = [
    "%",
    "_",
    "a",
    "A",
    "a%",
    "%b",
    "a_",
    "_b",
    "\\%",
    "a\\b",
    "a*",
    "a?",
    "[a]",
    "[%",
    "%\n%",
    "中",
]


def _grid_runs(metric_values: list[float], strings: list[str]) -> list[Run]:
    runs = [
        Run(
            info=RunInfo(f"m{i:02d}", "1", "", "u", "RUNNING", None, None, ""),
            data=RunData(metric_objs=(Metric("m", v, 0, 0),)),
        )
        for i, v in enumerate(metric_values)
    ]
    runs += [
        Run(info=RunInfo(f"s{i:02d}", "1", s, "u", "RUNNING", i, None, ""), data=RunData(params={"p": s}))
        for i, s in enumerate(strings)
    ]
    return runs + [Run(info=RunInfo("zz", "1", "", "u", "RUNNING", None, None, ""))]


def test_grid_metric_comparisons_agree(any_db: sa.Connection) -> None:
    runs = _grid_runs(METRIC_VALUES + [1e308, -1e-300], [])
    exprs = [Comparison("metric", "m", op, n) for op in NUMERIC_OPS for n in NUMBERS + [1e308]]
    assert_runs_agree(any_db, runs, exprs, None)


def test_grid_string_comparisons_agree(any_db: sa.Connection) -> None:
    runs = _grid_runs([], GRID_STRINGS)
    exprs = [
        Comparison(kind, key, op, pattern)
        for kind, key in (("param", "p"), ("attribute", "run_name"))
        for op in ("=", "!=", "LIKE", "ILIKE")
        for pattern in GRID_PATTERNS + GRID_STRINGS
    ]
    assert_runs_agree(any_db, runs, exprs, None)


@pytest.mark.parametrize(
    "key", [("metric", "m"), ("param", "p"), ("attribute", "run_name"), ("attribute", "start_time")]
)
@pytest.mark.parametrize("ascending", [True, False])
def test_grid_ordering_agrees(any_db: sa.Connection, key: tuple[str, str], ascending: bool) -> None:
    runs = _grid_runs(METRIC_VALUES + [1e308], GRID_STRINGS)
    assert_runs_agree(any_db, runs, [], [OrderBy(*key, ascending)])
