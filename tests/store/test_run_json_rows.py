"""``runs/search`` and ``metrics/get-history`` answers written straight from the rows (the SQL store's
``search_run_dicts`` / ``get_metric_history_dicts``, no entities) are byte for byte the answers the
entity path writes (``Run.to_dict`` / ``Metric.to_dict``, then the same JSON encoder): same fields
in the same order, the same omissions (no ``end_time`` while running, no empty params, tags,
metrics, inputs or outputs), the same runs in the same order and the same page tokens, on every
backend, for a store with params, tags, non-finite metrics, deleted and nested runs, dataset
inputs with tags and logged-model inputs and outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import update

from modelyard.auth.context import RequestContext
from modelyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
    ViewType,
    columnar,
)
from modelyard.server.protocol import encode
from modelyard.server.routes.columnar import search_columnar
from modelyard.server.routes.metrics import GetMetricHistory, get_metric_history
from modelyard.server.routes.runs import SearchRuns, search_runs
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.base import RunSearch, TrackingStore
from modelyard.store.tracking.sql.store import SqlTrackingStore
from modelyard.tracking.service import TrackingService

VALUES = (0.25, math.nan, math.inf, -math.inf, -2.0, 1e-300, 1.7976931348623157e308, 0.0, 3.0, -1e-7)
TEXTS = ("adam", "sgd", 'quote " and \\ backslash', "naïve ünïcode ✓", "line\nbreak\ttab", "")
SEARCHES = [
    {},
    {"order_by": ["metrics.loss ASC"]},
    {"order_by": ["metrics.loss DESC", "params.opt ASC"]},
    {"filter": "params.opt = 'adam'", "order_by": ["attributes.start_time DESC"]},
    {"filter": "metrics.loss > 0", "order_by": ["metrics.acc ASC"]},
    {"filter": "tags.mlflow.parentRunId = '{parent}'"},
    {"run_view_type": ViewType.ALL, "order_by": ["attributes.run_name ASC"]},
    {"run_view_type": ViewType.DELETED_ONLY},
    {"filter": "attributes.status = 'RUNNING'", "order_by": ["tags.team DESC"]},
]


def _fill(store: SqlTrackingStore) -> tuple[str, str]:
    """An experiment of 24 varied runs; returns its id and the parent run's id."""
    exp_id = store.create_experiment("json-rows")
    parent = store.create_run(exp_id, "u", 500, [RunTag("team", "root")], "parent").info.run_id
    for i in range(23):
        tags = [RunTag("team", TEXTS[i % len(TEXTS)])] if i % 5 else []
        if i % 3 == 0:
            tags.append(RunTag("mlflow.parentRunId", parent))
        run_id = store.create_run(exp_id, f"user-{i % 2}", 1000 + i, tags, f"run-{i:02d}").info.run_id
        metrics = []
        if i % 4:
            metrics.append(Metric("loss", VALUES[i % len(VALUES)], 10 + i, i))
        if i % 2:
            metrics += [Metric("acc", VALUES[(i + 3) % len(VALUES)], 2**40 + i, -i), Metric("b", 1.0, 0, 0)]
        params = [Param("opt", TEXTS[i % 2 * 2 + i % 3]), Param("lr", f"{0.1 * i}")] if i % 6 != 5 else []
        store.log_batch(run_id, metrics=metrics, params=params)
        if i % 3 == 1:  # logged last, sorted first: the answer's order is the keys', not the rows'
            late = [Param("a-late", "x")] if params else []
            store.log_batch(run_id, [Metric("a-late", i, 1, 1)], late, [RunTag("a-late", "y")])
        if i % 8 == 2:
            store.update_run_info(run_id, "FINISHED", 5000 + i)
        if i % 5 == 1:
            dataset = Dataset(f"data-{i}", f"d{i}", "local", f"/data/{i}", '{"a": 1}' if i % 2 else None)
            input_tags = (InputTag("mlflow.data.context", "train"), InputTag("extra", TEXTS[i % len(TEXTS)]))
            other = Dataset(f"other-{i}", "d", "local", "/other")
            store.log_inputs(run_id, [DatasetInput(dataset, input_tags[: 1 + i % 2]), DatasetInput(other)])
        if i % 7 == 3:
            model_id = store.create_logged_model(exp_id, f"m{i}", run_id).model_id
            store.log_outputs(run_id, [LoggedModelOutput(model_id, i)])
            store.log_model_inputs(run_id, [model_id])
        if i % 9 == 4:
            store.delete_run(run_id)
    with store.engine.begin() as conn:  # as in databases older than the start time's NOT NULL default
        conn.execute(update(db.runs).where(db.runs.c.name == "run-07").values(start_time=None))
    return exp_id, parent


def _entity_page(store: SqlTrackingStore, body: dict):
    """The page a ``runs/search`` body asks for, as ``Run`` entities (the entity path)."""
    return store.search_runs(
        [body["experiment_ids"][0]],
        body.get("filter"),
        ViewType.parse(body.get("run_view_type")),
        body["max_results"],
        body.get("order_by"),
        body.get("page_token"),
    )


def _entity_search_answer(store: SqlTrackingStore, body: dict) -> bytes:
    """The ``runs/search`` answer as the entity path writes it (the route before rows-to-JSON)."""
    page = _entity_page(store, body)
    out: dict = {"runs": [r.to_dict() for r in page]}
    if page.token:
        out["next_page_token"] = page.token
    return encode(out)


def _every_page(route, store: SqlTrackingStore, max_results: int) -> Iterator[tuple[dict, bytes]]:
    """(body, the route's encoded answer) for every page of every search of SEARCHES over a filled
    store, following the answers' page tokens."""
    exp_id, parent = _fill(store)
    svc = SimpleNamespace(tracking=TrackingService(store))
    for search in SEARCHES:
        body = {**search, "experiment_ids": [exp_id], "max_results": max_results}
        if "filter" in body:
            body["filter"] = body["filter"].format(parent=parent)
        if "run_view_type" in body:
            body["run_view_type"] = body["run_view_type"].name
        while True:
            got = encode(route(svc, SearchRuns.model_validate(body), RequestContext()))
            yield dict(body), got
            token = orjson.loads(got).get("next_page_token")
            if not token:
                break
            body["page_token"] = token


@pytest.mark.parametrize("max_results", [1, 5, 1000])
def test_search_answer_is_the_entity_paths(store: SqlTrackingStore, max_results: int) -> None:
    pages = 0
    for body, got in _every_page(search_runs, store, max_results):
        assert got == _entity_search_answer(store, body), body
        pages += 1
    assert pages > len(SEARCHES) or max_results == 1000  # the pages were followed


@pytest.mark.parametrize("max_results", [1, 5, 1000])
def test_columnar_search_answer_is_the_entity_paths(store: SqlTrackingStore, max_results: int) -> None:
    """``search-columnar`` (modelyard's own client) written straight from the rows
    (``hydrate.load_run_columns``) is byte for byte ``columnar.runs_to_columns`` of the entities."""
    pages = 0
    for body, got in _every_page(search_columnar, store, max_results):
        page = _entity_page(store, body)
        want = columnar.runs_to_columns(page)
        if page.token:
            want["next_page_token"] = page.token
        assert got == encode(want), body
        pages += 1
    assert pages > len(SEARCHES) or max_results == 1000  # the pages were followed
    empty, token = store.search_run_columns(RunSearch([], max_results=max_results))
    assert token is None and empty == columnar.runs_to_columns([])


def test_search_answer_shows_everything_logged(store: SqlTrackingStore) -> None:
    """The rows-to-JSON answer itself, read back: what was logged, non-finite values as protobuf's
    JSON writes them, omissions where there is nothing."""
    exp_id, parent = _fill(store)
    runs = store.search_run_dicts(
        RunSearch([exp_id], run_view_type=ViewType.ALL, order_by=["attributes.run_name ASC"])
    )
    by_name = {r["info"]["run_name"]: r for r in runs}
    assert len(by_name) == 24
    r1 = by_name["run-01"]
    assert list(r1) == ["info", "data", "inputs", "outputs"]
    assert r1["data"]["metrics"] == [
        {"key": "a-late", "value": 1.0, "timestamp": 1, "step": 1},
        {"key": "acc", "value": VALUES[4], "timestamp": 2**40 + 1, "step": -1},
        {"key": "b", "value": 1.0, "timestamp": 0, "step": 0},
        {"key": "loss", "value": "NaN", "timestamp": 11, "step": 1},
    ]
    assert [m["value"] for m in by_name["run-02"]["data"]["metrics"]] == ["Infinity"]
    # DBL_MAX is where the infinities are stored (MySQL has none): it reads back as Infinity
    assert [m["value"] for m in by_name["run-03"]["data"]["metrics"]] == ["Infinity", 1.0, "-Infinity"]
    assert by_name["run-01"]["inputs"]["dataset_inputs"][0]["tags"] == [
        {"key": "extra", "value": TEXTS[1]},
        {"key": "mlflow.data.context", "value": "train"},
    ]
    assert "tags" not in by_name["run-01"]["inputs"]["dataset_inputs"][1]
    model_id = by_name["run-03"]["inputs"]["model_inputs"][0]["model_id"]
    assert by_name["run-03"]["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    assert "end_time" not in by_name["run-00"]["info"] and by_name["run-02"]["info"]["end_time"] == 5002
    assert "start_time" not in by_name["run-07"]["info"] and by_name["run-08"]["info"]["start_time"] == 1008
    assert "params" not in by_name["run-05"]["data"] and by_name["run-00"]["inputs"] == {}
    assert by_name["run-00"]["outputs"] == {} and by_name["run-04"]["info"]["lifecycle_stage"] == "deleted"
    assert {t["key"]: t["value"] for t in by_name["run-03"]["data"]["tags"]}["mlflow.parentRunId"] == parent
    assert by_name["run-05"]["data"]["tags"][0] == {"key": "mlflow.runName", "value": "run-05"}


@pytest.mark.parametrize("max_results", [3, 25_000])
def test_history_answer_is_the_entity_paths(store: SqlTrackingStore, max_results: int) -> None:
    exp_id = store.create_experiment("history")
    run_id = store.create_run(exp_id, "u", 0, []).info.run_id
    points = [Metric("m", VALUES[i % len(VALUES)], 1000 + i // 2, i // 3) for i in range(40)]
    store.log_batch(run_id, metrics=points)
    svc = SimpleNamespace(tracking=TrackingService(store))
    token, answers = None, []
    while True:
        m = GetMetricHistory(run_id=run_id, metric_key="m", max_results=max_results, page_token=token)
        got = encode(get_metric_history(svc, m, RequestContext()))
        page = store.get_metric_history(run_id, "m", max_results, token)
        want: dict = {"metrics": [x.to_dict() for x in page]}
        if page.token:
            want["next_page_token"] = page.token
        assert got == encode(want)
        answers.append(got)
        token = page.token
        if not token:
            break
    assert len(answers) == math.ceil(40 / max_results)
    values = [x["value"] for a in answers for x in orjson.loads(a)["metrics"]]
    assert len(values) == 40 and {"NaN", "Infinity", "-Infinity"} <= set(values)


def test_other_stores_answer_through_the_entities(store: SqlTrackingStore) -> None:
    """A store without rows to write from (REST, ...) keeps ``TrackingStore``'s defaults, which give
    the same answers through ``Run.to_dict`` / ``Metric.to_dict``."""
    exp_id, _ = _fill(store)
    search = RunSearch([exp_id], "metrics.loss < 10", ViewType.ALL, 7, ["metrics.loss DESC"], None)
    default, own = TrackingStore.search_run_dicts(store, search), store.search_run_dicts(search)
    assert len(own) == 7 and own.token and default.token == own.token
    assert encode(list(default)) == encode(list(own))
    assert TrackingStore.search_run_columns(store, search) == store.search_run_columns(search)
    run_id = own[0]["info"]["run_id"]
    default, own = (
        TrackingStore.get_metric_history_dicts(store, run_id, "loss"),
        store.get_metric_history_dicts(run_id, "loss"),
    )
    assert len(own) == 1 and encode(list(default)) == encode(list(own))
