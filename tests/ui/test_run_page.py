"""The run page (/runs/{id}), in-process: content, escaping, errors, the chart data of a
1,000,000-point metric, and the CSRF defence of the endpoints the runs and run pages call."""

from __future__ import annotations

import html
import re
import time

import pytest
import sqlalchemy as sa

from modelyard.entities import Metric, Param, RunTag
from modelyard.store.tracking import tables as schema

XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(3)</script>"
NOTE = "mlflow.note.content"


def make_run(store, exp, name, metrics=(), params=None, tags=None, start=1_700_000_000_000):
    run = store.create_run(exp, "alice", start, [RunTag(k, v) for k, v in (tags or {}).items()], name)
    store.log_batch(
        run.info.run_id, metrics=list(metrics), params=[Param(k, v) for k, v in (params or {}).items()]
    )
    return run.info.run_id


def run_row_id(store, run_id: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.run_uuid == run_id)).scalar_one()


def text_of(page: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert m, element_id
    return html.unescape(re.sub(r"<[^>]+>", " ", m.group(2)))


@pytest.fixture
def run_setup(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment("vision")
    parent = make_run(store, exp, "sweep")
    run_id = make_run(
        store,
        exp,
        "trial-7",
        metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(20)]
        + [Metric("acc", 0.91, 1_700_000_000_000, 3)],
        params={"lr": "0.01", "optimizer": "adam"},
        tags={
            "team": "cv",
            "mlflow.parentRunId": parent,
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
            NOTE: "first try",
        },
    )
    store.update_run_info(run_id, "FINISHED", 1_700_000_000_000 + 125_000)
    model = store.create_logged_model(exp, name="classifier", source_run_id=run_id, model_type="sklearn")
    return ui_api, exp, run_id, parent, model


def test_run_page_content(run_setup):
    api, exp, run_id, parent, model = run_setup
    r = api.get(f"/runs/{run_id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    # breadcrumbs: Experiments -> experiment -> run
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', page, re.S).group(0)
    assert re.search(
        rf'href="/experiments">Experiments</a>.*href="/experiments/{exp}">vision</a>.*trial-7', crumbs, re.S
    )
    info = text_of(page, "run-info")
    for expected in (run_id, "FINISHED", "2023-11-14 22:13:20", "2m 05s", "alice", "train.py", "LOCAL"):
        assert expected in info
    assert f'<a href="/runs/{parent}" id="parent-link">sweep</a>' in page
    assert f'href="/experiments/{exp}"' in page
    assert f'href="/runs/{run_id}/artifacts"' in page
    assert 'class="badge status-FINISHED"' in page
    # params, latest metrics, one chart slot per metric (drawn by JS)
    params = text_of(page, "params")
    assert "lr" in params and "0.01" in params and "optimizer" in params
    metrics = text_of(page, "metrics")
    assert re.search(r"loss\s+0\.05\s+19", metrics) and re.search(r"acc\s+0\.91\s+3", metrics)
    assert page.count('class="chart" data-metric=') == 2
    # user tags editable, system tags apart, the description from mlflow.note.content
    tags = text_of(page, "tags")
    assert "team" in tags and "cv" in tags and "mlflow." not in tags
    assert "mlflow.source.name" in text_of(page, "system-tags")
    assert text_of(page, "description-text").strip() == "first try"
    # the logged model with how to load it
    assert f'data-model-id="{model.model_id}"' in page
    assert f'modelyard.pyfunc.load_model("models:/{model.model_id}")' in page
    assert f'modelyard.pyfunc.load_model("runs:/{run_id}/classifier")' in page
    # the parent page lists its child
    parent_page = api.get(f"/runs/{parent}").text
    assert (
        f'<a href="/runs/{run_id}">trial-7</a>' in text_of(parent_page, "run-info") or run_id in parent_page
    )
    assert "No models logged from this run." in parent_page


def test_model_outputs_are_listed(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment("outputs")
    producer = make_run(store, exp, "producer")
    other = make_run(store, exp, "evaluator")
    model = store.create_logged_model(exp, name="shared", source_run_id=producer)
    store.log_outputs(other, [(model.model_id, 2)])
    page = ui_api.get(f"/runs/{other}").text
    assert f'data-model-id="{model.model_id}"' in page
    assert f'load_model("models:/{model.model_id}")' in page
    assert f"runs:/{other}/" not in page  # the runs:/ form only for the run that produced it


def test_missing_run_is_an_html_404(ui_api):
    r = ui_api.get("/runs/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "RESOURCE_DOES_NOT_EXIST" in r.text and "Traceback" not in r.text
    assert 'href="/experiments"' in r.text


def test_run_under_its_experiment_redirects(run_setup):
    api, exp, run_id, _, _ = run_setup
    r = api.get(f"/experiments/{exp}/runs/{run_id}")
    assert r.status_code == 302 and r.headers["location"] == f"/runs/{run_id}"
    wrong = api.get(f"/experiments/0/runs/{run_id}")
    assert wrong.status_code == 404 and "not in experiment" in wrong.text


def test_deleted_run_is_shown_as_deleted(run_setup):
    api, _, run_id, _, _ = run_setup
    api.services.tracking.store.delete_run(run_id)
    r = api.get(f"/runs/{run_id}")
    assert r.status_code == 200 and '<span class="badge status-FAILED">deleted</span>' in r.text


def test_user_strings_are_escaped(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment(XSS)
    parent = make_run(store, exp, SCRIPT)
    run_id = make_run(
        store,
        exp,
        XSS,
        metrics=[Metric("m", 1.0, 1, 0)],
        params={"p": XSS},
        tags={"t": XSS, NOTE: SCRIPT, "mlflow.parentRunId": parent, "mlflow.source.name": XSS},
    )
    store.create_logged_model(exp, name=XSS, source_run_id=run_id)
    rid = run_row_id(store, run_id)
    with store.engine.begin() as conn:  # keys the API refuses, as an old or foreign database may hold
        point = {"run_id": rid, "key": XSS, "value": 2.0, "timestamp": 1, "step": 0, "is_nan": False}
        conn.execute(sa.insert(schema.metrics), [point])
        conn.execute(sa.insert(schema.latest_metrics), [point])
        conn.execute(sa.insert(schema.params), [{"run_id": rid, "key": XSS, "value": "v"}])
        conn.execute(sa.insert(schema.tags), [{"run_id": rid, "key": SCRIPT, "value": "v"}])
    for path in (f"/runs/{run_id}", f"/runs/{parent}"):
        page = ui_api.get(path).text
        assert XSS not in page and SCRIPT not in page and "<script>alert" not in page
    page = ui_api.get(f"/runs/{run_id}").text
    assert html.escape(XSS, quote=False) in page
    # the run name reaches the script only through |tojson
    assert 'const NAME = "\\u003cimg src=x onerror=alert(1)\\u003e";' in page
    assert f'data-metric="{html.escape(XSS)}"' in page


def test_chart_data_of_a_million_points_is_sampled_on_the_server(ui_api):
    """1,000,000 points of one metric: the endpoint the charts call returns at most about a
    thousand of them (first and last step kept), sampled in the database."""
    store = ui_api.services.tracking.store
    exp = store.create_experiment("long")
    run_id = make_run(store, exp, "long-run", metrics=[Metric("loss", 1.0, 0, 0)])
    rid = run_row_id(store, run_id)
    n = 1_000_000
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO metrics (run_id, key, value, timestamp, step, is_nan) VALUES (?, 'loss', ?, ?, ?, 0)",
            [(rid, 1.0 / (s + 1), s, s) for s in range(1, n)],
        )
    filled = time.perf_counter() - t0
    r = ui_api.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run_id, "metric_key": "loss", "max_results": 1000},
    )
    assert r.status_code == 200, r.text
    points = r.json()["metrics"]
    steps = [p["step"] for p in points]
    assert 900 <= len(points) <= 1002, len(points)
    assert steps[0] == 0 and steps[-1] == n - 1 and steps == sorted(steps)
    assert all(p["run_id"] == run_id for p in points)
    print(f"1M points: filled in {filled:.1f}s; {len(points)} returned")  # timing is in bench/ui.py


# -- CSRF: the state-changing endpoints the runs and run pages call -----------------------------
ENDPOINTS = [
    ("runs/set-tag", lambda run_id: {"run_id": run_id, "key": "team", "value": "forged"}),
    ("runs/delete-tag", lambda run_id: {"run_id": run_id, "key": "team"}),
    ("runs/update", lambda run_id: {"run_id": run_id, "run_name": "forged"}),
    ("runs/delete", lambda run_id: {"run_id": run_id}),
]


def unchanged(store, run_id: str) -> bool:
    run = store.get_run(run_id)
    return (
        run.data.tags.get("team") == "cv"
        and run.info.run_name == "victim"
        and run.info.lifecycle_stage == "active"
    )


@pytest.mark.parametrize(("endpoint", "body"), ENDPOINTS, ids=[e for e, _ in ENDPOINTS])
def test_cross_site_requests_are_refused(ui_api, endpoint, body):
    store = ui_api.services.tracking.store
    exp = store.create_experiment("csrf")
    run_id = make_run(store, exp, "victim", tags={"team": "cv"})
    url = f"/ajax-api/2.0/mlflow/{endpoint}"
    # what a cross-site <form method=post> can send: form-encoded, text/plain, multipart
    form = ui_api.post(url, data=body(run_id), headers={"Origin": "https://evil.example"})
    assert form.status_code in (400, 403, 415), form.text
    form_no_origin = ui_api.post(url, data=body(run_id))
    assert form_no_origin.status_code in (400, 415), form_no_origin.text
    text_plain = ui_api.request(
        "POST", url, content=str(body(run_id)).replace("'", '"'), headers={"Content-Type": "text/plain"}
    )
    assert text_plain.status_code in (400, 415), text_plain.text
    # a JSON request from a foreign page (fetch with a JSON body carries the page's Origin)
    foreign = ui_api.post(url, json=body(run_id), headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert unchanged(store, run_id)
    # the page's own request (same origin, JSON) goes through
    ok = ui_api.post(url, json=body(run_id), headers={"Origin": "http://localhost"})
    assert ok.status_code == 200, ok.text
    assert not unchanged(store, run_id)
