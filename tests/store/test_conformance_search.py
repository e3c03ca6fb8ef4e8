"""Conformance: search_runs and search_experiments (filters, ordering, paging), on every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from modelyard.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from modelyard.exceptions import InvalidParameterValue
from modelyard.store.tracking.base import TrackingStore


@dataclass
class Runs:
    """Five runs in one experiment, named by their run names; "epsilon" is deleted."""

    exp_id: str
    ids: dict[str, str]

    def names(self, runs) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.info.run_id] for r in runs]


SPECS = {
    # name: (start_time, status, metrics, params, tags)
    "alpha": (1000, "FINISHED", {"acc": 0.9, "loss": 0.3}, {"model": "CNN", "lr": "0.1"}, {"team": "Vision", "env": "prod"}),
    "beta": (2000, "RUNNING", {"acc": 0.7, "loss": math.nan}, {"model": "cnn", "lr": "0.01"}, {"team": "vision"}),
    "Gamma": (3000, "FAILED", {"acc": 0.8}, {"model": "RNN"}, {"env": "dev"}),
    "delta": (4000, "KILLED", {}, {"model": "transformer"}, {}),
    "epsilon": (5000, "FINISHED", {"acc": 1.0}, {"model": "CNN"}, {}),
}


EXPERIMENTS = {"Exp A": {"team": "vision"}, "exp b": {"team": "Vision", "prio": "1"}, "other": {}, "gone": {}}
PAGING_RUNS = 23


@dataclass
class Seeded:
    store: TrackingStore
    runs: Runs
    paging_exp: str
    paging_ids: list[str]
    experiments: dict[str, str]  # name -> id, "gone" is deleted


def seed_runs(store: TrackingStore) -> Runs:
    exp_id = store.create_experiment("search")
    ids = {}
    for name, (start, status, metrics, params, tags) in SPECS.items():
        run_id = store.create_run(exp_id, f"user-{name}", start, run_name=name).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        store.update_run_info(run_id, status, end_time=start + 10)
        ids[name] = run_id
    store.delete_run(ids["epsilon"])
    store.log_metric(ids["beta"], Metric("f1 score", 0.5, 1, 0))
    store.log_param(ids["Gamma"], Param("a.b-c", "x"))
    store.log_batch(ids["delta"], metrics=[Metric("big", math.inf, 1, 0)])
    store.log_batch(ids["Gamma"], metrics=[Metric("big", 1.0, 1, 0), Metric("big", -math.inf, 1, 1)])
    store.log_metric(ids["alpha"], Metric("late", 0.1, 9999, 5))
    store.log_metric(ids["alpha"], Metric("late", 0.95, 1, 1))  # an older step: not the latest
    context = "mlflow.data.context"
    train = DatasetInput(Dataset("iris", "abc123", "local", "/data/iris.csv"), (InputTag(context, "train"),))
    evals = DatasetInput(Dataset("wine", "def456", "local", "/data/wine.csv"), (InputTag(context, "eval"),))
    store.log_inputs(ids["alpha"], [train, evals])
    store.log_inputs(ids["beta"], [train])
    return Runs(exp_id, ids)


def seed_paging(store: TrackingStore) -> tuple[str, list[str]]:
    """Runs with one start_time, many equal values and some keys missing: ties everywhere."""
    exp_id = store.create_experiment("paging")
    ids = []
    for i in range(PAGING_RUNS):
        run_id = store.create_run(exp_id, "u", 777).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("m", float(i % 3), 1, 0)] if i % 4 else [],
            params=[Param("p", str(i % 2))] if i % 5 else [],
            tags=[RunTag("t", "x")] if i % 2 else [],
        )
        ids.append(run_id)
    return exp_id, ids


@pytest.fixture(scope="module")
def seeded(module_store: TrackingStore) -> Seeded:
    """Written once per backend; the tests of this module only read."""
    store = module_store
    experiments = {name: store.create_experiment(name, tags=tags) for name, tags in EXPERIMENTS.items()}
    store.delete_experiment(experiments["gone"])
    runs = seed_runs(store)
    paging_exp, paging_ids = seed_paging(store)
    experiments.update({"Default": "0", "search": runs.exp_id, "paging": paging_exp})
    return Seeded(store, runs, paging_exp, paging_ids, experiments)


@pytest.fixture
def store(seeded: Seeded) -> TrackingStore:
    return seeded.store


@pytest.fixture
def runs(seeded: Seeded) -> Runs:
    return seeded.runs


def found(store: TrackingStore, runs: Runs, filter_string: str | None = None, **kw) -> list[str]:
    return runs.names(store.search_runs([runs.exp_id], filter_string, **kw))


def found_set(store: TrackingStore, runs: Runs, filter_string: str) -> set[str]:
    return set(found(store, runs, filter_string))


def test_no_filter_orders_by_start_time_desc(store: TrackingStore, runs: Runs) -> None:
    assert found(store, runs) == ["delta", "Gamma", "beta", "alpha"]


def test_search_returns_full_runs(store: TrackingStore, runs: Runs) -> None:
    (alpha,) = store.search_runs([runs.exp_id], "attributes.run_name = 'alpha'")
    assert alpha == store.get_run(runs.ids["alpha"])


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.75", {"alpha", "Gamma"}),
        ("metrics.acc >= 0.7 AND metrics.acc < 0.9", {"beta", "Gamma"}),
        ("metric.acc = 0.8", {"Gamma"}),
        ("metrics.loss != 0.3", {"beta"}),  # NaN passes !=, a missing metric never matches
        ("metrics.loss < 1", {"alpha"}),
        ("params.model = 'CNN'", {"alpha"}),
        ("params.model != 'CNN'", {"beta", "Gamma", "delta"}),
        ("params.lr = '0.01'", {"beta"}),
        ("tags.team = 'vision'", {"beta"}),
        ("tags.team = 'Vision'", {"alpha"}),
        ("tags.env IS NULL", {"beta", "delta"}),
        ("tags.env IS NOT NULL", {"alpha", "Gamma"}),
        ("params.lr IS NULL", {"Gamma", "delta"}),
        ("attributes.status = 'FINISHED'", {"alpha"}),
        ("attributes.status IN ('RUNNING', 'FAILED')", {"beta", "Gamma"}),
        ("attributes.status NOT IN ('RUNNING', 'FAILED')", {"alpha", "delta"}),
        ("attributes.run_name IN ('alpha', 'Gamma', 'nope')", {"alpha", "Gamma"}),
        ("attributes.user_id = 'user-beta'", {"beta"}),
        ("attributes.start_time >= 3000", {"Gamma", "delta"}),
        ("attributes.end_time < 2500", {"alpha", "beta"}),
        ("params.model IN ('RNN', 'transformer')", {"Gamma", "delta"}),
    ],
)
def test_filters(store: TrackingStore, runs: Runs, filter_string: str, expected: set[str]) -> None:
    assert found_set(store, runs, filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("params.model = 'cnn'", {"beta"}),
        ("params.model = 'Cnn'", set()),
        ("params.model LIKE 'C%'", {"alpha"}),
        ("params.model LIKE 'c%'", {"beta"}),
        ("params.model LIKE '%N'", {"alpha", "Gamma"}),
        ("params.model LIKE '_NN'", {"alpha", "Gamma"}),
        ("params.model ILIKE 'c%'", {"alpha", "beta"}),
        ("params.model ILIKE '%NN'", {"alpha", "beta", "Gamma"}),
        ("tags.team LIKE 'v%'", {"beta"}),
        ("tags.team ILIKE 'VISION'", {"alpha", "beta"}),
        ("attributes.run_name LIKE 'g%'", set()),
        ("attributes.run_name ILIKE 'g%'", {"Gamma"}),
        ("attributes.run_name = 'gamma'", set()),
        ("attributes.run_name IN ('gamma', 'ALPHA')", set()),
        ("params.model = 'CNN '", set()),  # no trailing-space padding either
    ],
)
def test_string_comparisons_are_case_sensitive(
    store: TrackingStore, runs: Runs, filter_string: str, expected: set[str]
) -> None:
    assert found_set(store, runs, filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.85 OR params.model = 'RNN'", {"alpha", "Gamma"}),
        ("(params.model = 'CNN' OR params.model = 'cnn') AND tags.env = 'prod'", {"alpha"}),
        ("params.model = 'CNN' OR params.model = 'cnn' AND tags.env = 'prod'", {"alpha"}),  # AND binds tighter
        ("(params.model = 'CNN' OR params.model = 'cnn') AND metrics.acc < 0.8", {"beta"}),
        ("tags.env = 'dev' OR (metrics.acc > 0.85 AND params.lr = '0.1')", {"alpha", "Gamma"}),
        ("attributes.status = 'KILLED' OR tags.team ILIKE 'vision'", {"alpha", "beta", "delta"}),
    ],
)
def test_and_or_parentheses(store: TrackingStore, runs: Runs, filter_string: str, expected: set[str]) -> None:
    assert found_set(store, runs, filter_string) == expected


def test_filter_quoted_keys(store: TrackingStore, runs: Runs) -> None:
    assert found_set(store, runs, "metrics.`f1 score` > 0.1") == {"beta"}
    assert found_set(store, runs, 'params."a.b-c" = \'x\'') == {"Gamma"}


def test_filter_uses_latest_metric(store: TrackingStore, runs: Runs) -> None:
    assert found_set(store, runs, "metrics.late > 0.5") == set()
    assert found_set(store, runs, "metrics.late < 0.5") == {"alpha"}


def test_filter_infinite_metrics(store: TrackingStore, runs: Runs) -> None:
    assert found_set(store, runs, "metrics.big > 1e300") == {"delta"}
    assert found_set(store, runs, "metrics.big < -1e300") == {"Gamma"}
    assert found(store, runs, "metrics.big != 0", order_by=["metrics.big"]) == ["Gamma", "delta"]


def test_filter_datasets(store: TrackingStore, runs: Runs) -> None:
    assert found_set(store, runs, "datasets.name = 'iris'") == {"alpha", "beta"}
    assert found_set(store, runs, "datasets.digest = 'def456'") == {"alpha"}
    assert found_set(store, runs, "datasets.context = 'eval'") == {"alpha"}
    assert found_set(store, runs, "datasets.context = 'train' AND datasets.name = 'wine'") == {"alpha"}
    assert found_set(store, runs, "datasets.name IN ('wine', 'nope')") == {"alpha"}


def test_search_several_experiments(seeded: Seeded) -> None:
    ids = [seeded.runs.exp_id, seeded.paging_exp, "0"]
    both = seeded.store.search_runs(ids, "params.model = 'CNN' OR attributes.start_time = 777")
    assert [r.info.run_id for r in both] == [seeded.runs.ids["alpha"]] + sorted(seeded.paging_ids)
    assert seeded.store.search_runs([]) == []


def test_filter_by_run_id(store: TrackingStore, runs: Runs) -> None:
    a, b = runs.ids["alpha"], runs.ids["delta"]
    assert found_set(store, runs, f"attributes.run_id = '{a}'") == {"alpha"}
    assert found_set(store, runs, f"attributes.run_id IN ('{a}', '{b}')") == {"alpha", "delta"}


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc > 'high'",
        "params.model > 1",
        "unknown.x = 1",
        "metrics.acc >",
        "(metrics.acc > 1",
        "attributes.nope = 'x'",
        "metrics.acc > 1 AND",
        "params.model = 'x' OR OR params.model = 'y'",
    ],
)
def test_invalid_filter(store: TrackingStore, runs: Runs, filter_string: str) -> None:
    with pytest.raises(InvalidParameterValue):
        store.search_runs([runs.exp_id], filter_string)


def test_run_view_type(store: TrackingStore, runs: Runs) -> None:
    assert "epsilon" not in found(store, runs)
    assert found(store, runs, run_view_type=ViewType.DELETED_ONLY) == ["epsilon"]
    assert found(store, runs, run_view_type=ViewType.ALL) == ["epsilon", "delta", "Gamma", "beta", "alpha"]
    assert found(store, runs, "params.model = 'CNN'", run_view_type=ViewType.ALL) == ["epsilon", "alpha"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["alpha", "Gamma", "beta", "delta"]),
        (["metrics.acc ASC"], ["beta", "Gamma", "alpha", "delta"]),  # missing metrics last both ways
        (["metrics.acc"], ["beta", "Gamma", "alpha", "delta"]),
        (["metrics.loss ASC"], ["alpha", "beta", "delta", "Gamma"]),  # then NaN, then missing
        (["metrics.loss DESC"], ["alpha", "beta", "delta", "Gamma"]),
        (["params.model ASC"], ["alpha", "Gamma", "beta", "delta"]),  # code point order: upper case first
        (["params.lr DESC"], ["alpha", "beta", "delta", "Gamma"]),
        (["tags.team ASC", "attributes.start_time ASC"], ["alpha", "beta", "Gamma", "delta"]),
        (["attributes.start_time ASC"], ["alpha", "beta", "Gamma", "delta"]),
        (["attributes.run_name DESC"], ["delta", "beta", "alpha", "Gamma"]),
        (["attributes.status", "metrics.acc DESC"], ["Gamma", "alpha", "delta", "beta"]),
    ],
)
def test_order_by(store: TrackingStore, runs: Runs, order_by: list[str], expected: list[str]) -> None:
    assert found(store, runs, order_by=order_by) == expected


@pytest.mark.parametrize("order_by", [["metrics.acc UP"], ["nope.x"], ["metrics.acc", "metrics.acc DESC"]])
def test_invalid_order_by(store: TrackingStore, runs: Runs, order_by: list[str]) -> None:
    with pytest.raises(InvalidParameterValue):
        store.search_runs([runs.exp_id], order_by=order_by)


@pytest.mark.parametrize("max_results", [0, -5, 50_001])
def test_search_runs_bad_max_results(store: TrackingStore, runs: Runs, max_results: int) -> None:
    with pytest.raises(InvalidParameterValue):
        store.search_runs([runs.exp_id], max_results=max_results)


def test_search_runs_bad_experiment_id(store: TrackingStore, runs: Runs) -> None:
    with pytest.raises(InvalidParameterValue):
        store.search_runs([runs.exp_id, "not-an-id"])


def test_search_runs_bad_page_token(store: TrackingStore, runs: Runs) -> None:
    with pytest.raises(InvalidParameterValue):
        store.search_runs([runs.exp_id], page_token="garbage!")


def walk(search, page_size: int) -> tuple[list, list[int]]:
    items, sizes, token = [], [], None
    while True:
        page = search(max_results=page_size, page_token=token)
        items += list(page)
        sizes.append(len(page))
        if (token := page.token) is None:
            return items, sizes


@pytest.mark.parametrize("order_by", [None, ["metrics.m DESC"], ["params.p ASC", "tags.t DESC"]])
def test_paging_walks_every_run_once(seeded: Seeded, order_by: list[str] | None) -> None:
    def search(**kw):
        return seeded.store.search_runs([seeded.paging_exp], "attributes.start_time = 777", order_by=order_by, **kw)

    runs, sizes = walk(search, 5)
    assert sizes == [5, 5, 5, 5, 3]
    assert sorted(r.info.run_id for r in runs) == sorted(seeded.paging_ids)
    everything = seeded.store.search_runs([seeded.paging_exp], order_by=order_by, max_results=100)
    assert [r.info.run_id for r in runs] == [r.info.run_id for r in everything]


def test_paging_page_size_one(seeded: Seeded) -> None:
    runs, sizes = walk(lambda **kw: seeded.store.search_runs([seeded.runs.exp_id], **kw), 1)
    assert sizes == [1, 1, 1, 1]
    assert seeded.runs.names(runs) == ["delta", "Gamma", "beta", "alpha"]


# -- experiments --------------------------------------------------------------------------------
ACTIVE_EXPERIMENTS = {"Default", "Exp A", "exp b", "other", "search", "paging"}


@pytest.fixture
def experiments(seeded: Seeded) -> dict[str, str]:
    return seeded.experiments


def exp_names(store: TrackingStore, *args, **kw) -> list[str]:
    return [e.name for e in store.search_experiments(*args, **kw)]


def test_search_experiments_view_type(store: TrackingStore, experiments: dict[str, str]) -> None:
    assert set(exp_names(store)) == ACTIVE_EXPERIMENTS
    assert exp_names(store, ViewType.DELETED_ONLY) == ["gone"]
    assert set(exp_names(store, ViewType.ALL)) == set(experiments) == ACTIVE_EXPERIMENTS | {"gone"}


def test_search_experiments_returns_full_entities(store: TrackingStore, experiments: dict[str, str]) -> None:
    (exp,) = store.search_experiments(filter_string="name = 'exp b'")
    assert exp == store.get_experiment(experiments["exp b"])


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'Exp A'", {"Exp A"}),
        ("attributes.name = 'exp a'", set()),
        ("name LIKE 'exp%'", {"exp b"}),
        ("name ILIKE 'exp%'", {"Exp A", "exp b"}),
        ("name LIKE '%e%'", {"Default", "exp b", "other", "search"}),
        ("name != 'other'", ACTIVE_EXPERIMENTS - {"other"}),
        ("tags.team = 'vision'", {"Exp A"}),
        ("tags.team ILIKE 'vision'", {"Exp A", "exp b"}),
        ("tags.prio IS NULL", ACTIVE_EXPERIMENTS - {"exp b"}),
        ("tags.team IS NOT NULL", {"Exp A", "exp b"}),
        ("tags.team = 'vision' OR tags.prio = '1'", {"Exp A", "exp b"}),
        ("name IN ('other', 'Default', 'gone')", {"other", "Default"}),
        ("(name = 'other' OR name = 'search') AND name != 'search'", {"other"}),
    ],
)
def test_search_experiments_filter(
    store: TrackingStore, experiments: dict[str, str], filter_string: str, expected: set[str]
) -> None:
    assert set(exp_names(store, filter_string=filter_string)) == expected


def test_search_experiments_by_id(store: TrackingStore, experiments: dict[str, str]) -> None:
    a, b = experiments["Exp A"], experiments["other"]
    names = exp_names(store, filter_string=f"attributes.experiment_id IN ('{a}', '{b}')", order_by=["name"])
    assert names == ["Exp A", "other"]


def test_search_experiments_order(store: TrackingStore, experiments: dict[str, str]) -> None:
    by_name = ["Default", "Exp A", "exp b", "other", "paging", "search"]  # code point order
    assert exp_names(store, order_by=["name ASC"]) == by_name
    assert exp_names(store, order_by=["name DESC"]) == by_name[::-1]
    by_id = sorted(ACTIVE_EXPERIMENTS, key=lambda name: int(experiments[name]), reverse=True)
    assert exp_names(store, order_by=["experiment_id DESC"]) == by_id
    default_order = store.search_experiments()
    keys = [(-e.creation_time, int(e.experiment_id)) for e in default_order]
    assert keys == sorted(keys)  # creation_time DESC, then experiment_id ASC


def test_search_experiments_invalid(store: TrackingStore, experiments: dict[str, str]) -> None:
    for kwargs in (
        {"filter_string": "metrics.x > 1"},
        {"filter_string": "name = "},
        {"order_by": ["tags.team"]},
        {"max_results": 0},
        {"max_results": 50_001},
        {"page_token": "junk"},
    ):
        with pytest.raises(InvalidParameterValue):
            store.search_experiments(**kwargs)


@pytest.mark.parametrize("order_by", [None, ["name ASC"], ["creation_time DESC"], ["last_update_time ASC"]])
@pytest.mark.parametrize("view_type", [ViewType.ACTIVE_ONLY, ViewType.ALL])
def test_search_experiments_paging(
    store: TrackingStore, experiments: dict[str, str], order_by: list[str] | None, view_type: ViewType
) -> None:
    expected = store.search_experiments(view_type, order_by=order_by)
    found_exps, sizes = walk(lambda **kw: store.search_experiments(view_type, order_by=order_by, **kw), 4)
    assert sizes == [4, 3] if view_type == ViewType.ALL else [4, 2]
    assert [e.experiment_id for e in found_exps] == [e.experiment_id for e in expected]
    assert len({e.experiment_id for e in found_exps}) == len(found_exps)
