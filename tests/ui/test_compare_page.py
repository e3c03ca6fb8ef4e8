"""The run comparison page (/compare?runs=...), in-process: tables with differences highlighted,
breadcrumbs, chart data, errors for bad requests, escaping of user strings."""

from __future__ import annotations

import html
import json
import re
import time

import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.ui.pages.compare import MAX_RUNS

XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"


def make_run(
    store, experiment_id: str, name: str, params: dict, metrics: dict, tags: dict | None = None
) -> str:
    run = store.create_run(experiment_id, "alice", int(time.time() * 1000), run_name=name)
    run_id = run.info.run_id
    for key, value in params.items():
        store.log_param(run_id, Param(key, str(value)))
    for key, values in metrics.items():
        for step, value in enumerate(values if isinstance(values, list) else [values]):
            store.log_metric(run_id, Metric(key, value, 1_700_000_000_000 + step, step))
    for key, value in (tags or {}).items():
        store.set_tag(run_id, RunTag(key, value))
    return run_id


@pytest.fixture
def three(ui_api):
    store = ui_api.services.tracking.store
    eid = store.create_experiment("churn")
    ids = [
        make_run(
            store,
            eid,
            "a",
            {"lr": 0.1, "optimizer": "adam", "epochs": 10},
            {"loss": [1.0, 0.5, 0.3], "acc": 0.8},
            {"team": "x"},
        ),
        make_run(
            store,
            eid,
            "b",
            {"lr": 0.01, "optimizer": "adam", "epochs": 10},
            {"loss": [1.1, 0.7, 0.4], "acc": 0.85},
            {"team": "x"},
        ),
        make_run(
            store,
            eid,
            "c",
            {"lr": 0.001, "optimizer": "sgd", "epochs": 10},
            {"loss": [1.2, 0.9, 0.6], "acc": 0.8},
            {"team": "x"},
        ),
    ]
    return eid, ids


def rows(body: str, table_id: str) -> dict[str, list[tuple[str, bool]]]:
    """{row key: [(cell text, highlighted)]} of one comparison table."""
    table = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', body, re.S).group(1)
    out = {}
    for key, row in re.findall(r'<tr data-key="([^"]*)"[^>]*>(.*?)</tr>', table, re.S):
        cells = re.findall(r'<td class="([^"]*)"[^>]*>(.*?)</td>', row, re.S)
        out[html.unescape(key)] = [
            (html.unescape(re.sub(r"<[^>]+>", "", text)), "diff" in cls.split()) for cls, text in cells
        ]
    return out


def chart_data(body: str) -> dict:
    raw = re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', body, re.S).group(1)
    return json.loads(raw)


def crumbs(body: str) -> list[str]:
    nav = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', body, re.S).group(1)
    return [
        html.unescape(x) for x in re.findall(r"<(?:a|span)(?: [^>]*)?>([^<]*)</(?:a|span)>", nav) if x != "›"
    ]


def test_tables_highlight_the_cells_that_differ(ui_api, three):
    eid, ids = three
    res = ui_api.get("/compare", params={"runs": ",".join(ids)})
    assert res.status_code == 200
    params = rows(res.text, "compare-params")
    assert params["lr"] == [("0.1", True), ("0.01", True), ("0.001", True)]
    assert params["optimizer"] == [("adam", True), ("adam", True), ("sgd", True)]
    assert params["epochs"] == [("10", False)] * 3
    metrics = rows(res.text, "compare-metrics")
    assert metrics["acc"] == [("0.8", True), ("0.85", True), ("0.8", True)]
    assert metrics["loss"] == [("0.3", True), ("0.4", True), ("0.6", True)]  # the latest values
    assert rows(res.text, "compare-tags")["team"] == [("x", False)] * 3
    assert 'class="differs"' in res.text and 'id="only-diff"' in res.text
    assert crumbs(res.text) == ["Experiments", "churn", "Compare"]
    assert f'href="/experiments/{eid}"' in res.text
    head = re.search(r'<table id="compare-runs">.*?</thead>', res.text, re.S).group(0)
    assert re.findall(r'<a href="/runs/([0-9a-f]+)"', head) == ids  # the columns, in the order asked


def test_missing_values_differ_and_runs_from_several_experiments(ui_api):
    store = ui_api.services.tracking.store
    one, two = store.create_experiment("one"), store.create_experiment("two")
    a = make_run(store, one, "a", {"depth": 3}, {"auc": 0.7})
    b = make_run(store, two, "b", {}, {"auc": 0.7})
    res = ui_api.get(f"/compare?runs={a},{b}")
    assert res.status_code == 200
    assert rows(res.text, "compare-params")["depth"] == [("3", True), ("—", True)]
    assert rows(res.text, "compare-metrics")["auc"] == [("0.7", False), ("0.7", False)]
    assert crumbs(res.text) == ["Experiments", "Compare"]  # no single experiment to link


def test_chart_data_for_curves_parallel_coordinates_and_scatter(ui_api, three):
    _, ids = three
    data = chart_data(ui_api.get("/compare", params={"runs": ",".join(ids)}).text)
    assert [r["id"] for r in data["runs"]] == ids and [r["name"] for r in data["runs"]] == ["a", "b", "c"]
    assert data["metric_keys"] == ["acc", "loss"]
    axes = {a["label"]: a for a in data["axes"]}
    assert set(axes) == {"lr", "optimizer", "acc", "loss"}  # epochs does not vary
    assert axes["lr"]["values"] == [0.1, 0.01, 0.001]
    assert axes["optimizer"]["ticktext"] == ["adam", "sgd"] and axes["optimizer"]["values"] == [0, 0, 1]
    assert data["params"]["optimizer"] == {
        "values": ["adam", "adam", "sgd"],
        "numeric": False,
        "varies": True,
    }
    assert data["params"]["lr"]["numeric"] is True
    assert data["metrics"]["acc"] == [0.8, 0.85, 0.8]
    assert data["default_x"] == "lr" and data["default_y"] == "acc"
    assert data["color"]["label"] == "acc"


def test_curves_come_downsampled_from_the_bulk_interval_endpoint(ui_api):
    """The page's script asks get-history-bulk-interval for all runs of a key at once."""
    store = ui_api.services.tracking.store
    eid = store.create_experiment("long")
    ids = []
    for name in ("x", "y"):
        run = store.create_run(eid, "alice", 0, run_name=name)
        for start in range(0, 5000, 1000):
            batch = [Metric("loss", 1.0 / (s + 1), 0, s) for s in range(start, start + 1000)]
            store.log_batch(run.info.run_id, metrics=batch)
        ids.append(run.info.run_id)
    data = chart_data(ui_api.get(f"/compare?runs={ids[0]},{ids[1]}").text)
    query = [("run_ids", i) for i in ids] + [
        ("metric_key", "loss"),
        ("max_results", str(data["curve_points"])),
    ]
    res = ui_api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=query)
    assert res.status_code == 200
    points = res.json()["metrics"]
    for run_id in ids:
        steps = [p["step"] for p in points if p["run_id"] == run_id]
        assert len(steps) <= data["curve_points"] + 2 and steps[0] == 0 and steps[-1] == 4999


def test_user_strings_are_escaped(ui_api):
    """Names and values can hold markup (keys cannot: the store allows only ``[/\\w.\\- :]``)."""
    store = ui_api.services.tracking.store
    eid = store.create_experiment(f"exp {XSS}")
    ids = [
        make_run(store, eid, f"run {XSS}", {"code": SCRIPT, "p": XSS}, {"m: a/b": 1.0}, {"note": SCRIPT}),
        make_run(store, eid, f"run {SCRIPT}", {"code": "2", "p": "q"}, {"m: a/b": 2.0}),
    ]
    body = ui_api.get("/compare", params={"runs": ",".join(ids)}).text
    assert XSS not in body and SCRIPT not in body and "<script>alert" not in body
    assert html.escape(XSS, quote=False) in body
    assert rows(body, "compare-params")["code"][0] == (SCRIPT, True)
    assert rows(body, "compare-params")["p"][0] == (XSS, True)
    assert rows(body, "compare-tags")["note"][0] == (SCRIPT, True)
    data = chart_data(body)  # the JSON island holds the raw strings, and no markup
    assert data["runs"][1]["name"] == f"run {SCRIPT}" and data["params"]["p"]["values"] == [XSS, "q"]
    island = re.search(r'id="compare-data">(.*?)</script>', body, re.S).group(1)
    assert "<" not in island and ">" not in island
    assert crumbs(body) == ["Experiments", f"exp {XSS}", "Compare"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "No runs to compare"),
        ("?runs=", 400, "No runs to compare"),
        ("?runs=,%20,", 400, "No runs to compare"),
        ("?runs=ONLY", 400, "at least two runs"),
        ("?runs=[1,", 400, "not a JSON list"),
    ],
)
def test_bad_requests_get_a_clear_error_page(ui_api, query, status, message):
    res = ui_api.get("/compare" + query)
    assert res.status_code == status and message in html.unescape(res.text) and "<html" in res.text


def test_unknown_runs_are_named_and_too_many_refused(ui_api, three):
    _, ids = three
    res = ui_api.get("/compare", params={"runs": f"{ids[0]},nope-1,{XSS}"})
    assert res.status_code == 404
    text = html.unescape(res.text)
    assert "'nope-1'" in text and f"'{XSS}'" in text and XSS not in res.text
    many = ",".join(f"{i:032x}" for i in range(MAX_RUNS + 1))
    res = ui_api.get(f"/compare?runs={many}")
    assert res.status_code == 400 and f"At most {MAX_RUNS} runs" in res.text


def test_run_list_forms(ui_api, three):
    _, ids = three
    as_json = ui_api.get("/compare", params={"runs": json.dumps(ids[:2])})  # MLflow's runs=["a","b"]
    repeated = ui_api.get("/compare", params=[("runs", ids[0]), ("runs", ids[1]), ("runs", ids[0])])
    for res in (as_json, repeated):
        assert res.status_code == 200
        assert [r["id"] for r in chart_data(res.text)["runs"]] == ids[:2]


def test_runs_without_params_or_metrics(ui_api):
    store = ui_api.services.tracking.store
    eid = store.create_experiment("bare")
    ids = [make_run(store, eid, n, {}, {}) for n in ("a", "b")]
    body = ui_api.get(f"/compare?runs={ids[0]},{ids[1]}").text
    assert "None of these runs has parameters" in body and "These runs have no metrics" in body
    assert 'id="parcoords-empty"' in body and 'id="scatter-chart"' not in body
