"""The runs page of an experiment (/experiments/{id}), in-process: columns, sorting, filtering,
paging, the column picker, escaping and errors."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlparse

import pytest

from modelyard.entities import Metric, Param, RunTag

XSS = "<img src=x onerror=alert(1)>"
ROW = re.compile(r'<tr data-run-id="([0-9a-f]+)"')


def make_run(store, exp: str, name: str, start: int, metrics=None, params=None, tags=None) -> str:
    run = store.create_run(exp, "alice", start, [RunTag(k, v) for k, v in (tags or {}).items()], name)
    run_id = run.info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
    )
    return run_id


@pytest.fixture
def seeded(ui_api):
    """An experiment of 5 runs with loss/acc metrics, lr/opt params and a team tag."""
    store = ui_api.services.tracking.store
    exp = store.create_experiment("vision-sweep")
    ids = {}
    for i, (loss, lr, team) in enumerate(
        [(0.9, "0.1", "a"), (0.3, "0.01", "b"), (0.5, "0.3", "a"), (0.1, "0.05", "c"), (0.7, "0.2", "b")]
    ):
        ids[f"run-{i}"] = make_run(
            store,
            exp,
            f"run-{i}",
            1_700_000_000_000 + i * 1000,
            metrics={"loss": loss, "acc": 1 - loss},
            params={"lr": lr, "opt": "adam"},
            tags={"team": team},
        )
    return ui_api, exp, ids


def rows(response) -> list[str]:
    return ROW.findall(response.text)


def header_links(response) -> dict[str, str]:
    """column id -> the href of its sort link."""
    return {
        html.unescape(m.group(2)): html.unescape(m.group(1))
        for m in re.finditer(r'<a class="sort" href="([^"]*)" data-column="([^"]*)"', response.text)
    }


def test_runs_page_lists_runs_with_default_columns(seeded):
    api, exp, ids = seeded
    r = api.get(f"/experiments/{exp}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # newest first, every run linked to its page
    assert rows(r) == [ids[f"run-{i}"] for i in (4, 3, 2, 1, 0)]
    for run_id in ids.values():
        assert f'href="/runs/{run_id}"' in r.text
    # default columns: the page's metric, param and user-tag keys; no mlflow.* system tags
    columns = header_links(r)
    assert {"metrics.loss", "metrics.acc", "params.lr", "params.opt", "tags.team"} <= set(columns)
    assert not any(c.startswith("tags.mlflow.") for c in columns)
    assert "vision-sweep" in r.text and 'href="/experiments"' in r.text  # breadcrumb
    assert '<td class="num">0.9</td>' in r.text
    assert 'class="badge status-RUNNING"' in r.text
    # the experiment's created-time column is marked as the current sort
    assert re.search(r'data-column="attributes.start_time" data-dir="desc"', r.text)


def test_empty_experiment_and_missing_experiment(ui_api):
    exp = ui_api.services.tracking.store.create_experiment("empty one")
    r = ui_api.get(f"/experiments/{exp}")
    assert r.status_code == 200 and rows(r) == [] and "No runs in this experiment yet" in r.text
    missing = ui_api.get("/experiments/987654")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "RESOURCE_DOES_NOT_EXIST" in missing.text and "<table" not in missing.text


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("order=metrics.loss&dir=asc", [3, 1, 2, 4, 0]),
        ("order=metrics.loss&dir=desc", [0, 4, 2, 1, 3]),
        ("order=params.lr&dir=asc", [1, 3, 0, 4, 2]),  # params sort as strings
        ("order=attributes.run_name&dir=desc", [4, 3, 2, 1, 0]),
        ("order=attributes.start_time&dir=asc", [0, 1, 2, 3, 4]),
        ("order=tags.team&dir=asc", [2, 0, 4, 1, 3]),  # ties: newest first
    ],
)
def test_sorting_through_order_by(seeded, query, order):
    api, exp, ids = seeded
    r = api.get(f"/experiments/{exp}?{query}")
    assert r.status_code == 200
    assert rows(r) == [ids[f"run-{i}"] for i in order]


def test_header_links_toggle_the_direction(seeded):
    api, exp, _ = seeded
    links = header_links(api.get(f"/experiments/{exp}"))
    first = parse_qs(urlparse(links["metrics.loss"]).query)
    assert first == {"order": ["metrics.loss"], "dir": ["asc"]}
    r = api.get(links["metrics.loss"])
    assert re.search(r'data-column="metrics.loss" data-dir="asc"', r.text)
    again = parse_qs(urlparse(header_links(r)["metrics.loss"]).query)
    assert again == {"order": ["metrics.loss"], "dir": ["desc"]}


def test_sorting_by_a_key_with_spaces_is_quoted(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment("odd keys")
    a = make_run(store, exp, "a", 1000, metrics={"f1 score": 0.2})
    b = make_run(store, exp, "b", 2000, metrics={"f1 score": 0.8})
    r = ui_api.get(f"/experiments/{exp}", params={"order": "metrics.f1 score", "dir": "desc"})
    assert r.status_code == 200 and rows(r) == [b, a]


def test_filter_with_the_search_grammar(seeded):
    api, exp, ids = seeded
    r = api.get(f"/experiments/{exp}", params={"filter": "metrics.loss < 0.6 AND tags.team != 'c'"})
    assert r.status_code == 200
    assert rows(r) == [ids["run-2"], ids["run-1"]]
    # the filter stays in the box, and the sort links keep it
    assert 'value="metrics.loss &lt; 0.6 AND tags.team != &#39;c&#39;"' in r.text
    assert all("filter=" in href for href in header_links(r).values())
    none = api.get(f"/experiments/{exp}", params={"filter": "params.opt = 'sgd'"})
    assert none.status_code == 200 and rows(none) == [] and "No runs match this filter" in none.text


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "metrics.loss <"},
        {"filter": "nonsense.key = 1"},
        {"filter": "params.lr > 'x' AND ("},
        {"page_token": "not a token!"},
        {"order": "attributes.bogus"},
    ],
)
def test_bad_filter_or_token_is_an_inline_400(seeded, params):
    api, exp, _ = seeded
    r = api.get(f"/experiments/{exp}", params=params)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    box = re.search(r'<p class="error-box" id="filter-error" role="alert">(.*?)</p>', r.text, re.S)
    assert box and "Invalid" in html.unescape(box.group(1))
    assert rows(r) == [] and 'id="runs-filter"' in r.text  # the page, not an error page
    assert "Traceback" not in r.text


def test_paging_with_tokens_and_page_size(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment("many")
    ids = [make_run(store, exp, f"r{i:02d}", 1000 + i, metrics={"m": i}) for i in range(30)]
    newest_first = ids[::-1]
    first = ui_api.get(f"/experiments/{exp}?size=25")
    assert rows(first) == newest_first[:25]
    assert "Runs 1–25" in first.text and 'id="prev-page"' not in first.text
    assert '<option value="25" selected>' in first.text
    nxt = re.search(r'<a class="button" href="([^"]+)" id="next-page">', first.text)
    assert nxt
    second = ui_api.get(html.unescape(nxt.group(1)))
    assert rows(second) == newest_first[25:]
    assert "Runs 26–30" in second.text and 'id="next-page"' not in second.text
    prev = re.search(r'<a class="button" href="([^"]+)" id="prev-page">', second.text)
    assert prev and rows(ui_api.get(html.unescape(prev.group(1)))) == newest_first[:25]
    # a page size outside the choices falls back to the default (100)
    assert len(rows(ui_api.get(f"/experiments/{exp}?size=7"))) == 30


def test_deleted_runs_are_not_listed(seeded):
    api, exp, ids = seeded
    api.services.tracking.store.delete_run(ids["run-0"])
    assert ids["run-0"] not in rows(api.get(f"/experiments/{exp}"))


def test_column_picker(seeded):
    api, exp, ids = seeded
    r = api.get(f"/experiments/{exp}?picked=1&col=params.lr&col=bogus")
    assert set(header_links(r)) == {
        "attributes.run_name",
        "attributes.start_time",
        "attributes.status",
        "params.lr",
    }
    # the picker offers every key of the page, the chosen one checked
    assert '<input type="checkbox" name="col" value="params.lr" checked>' in r.text
    assert '<input type="checkbox" name="col" value="metrics.loss">' in r.text
    # the chosen columns survive sorting; the sort column is shown even if not chosen
    r = api.get(f"/experiments/{exp}?picked=1&col=params.lr&order=metrics.acc&dir=desc")
    assert {"params.lr", "metrics.acc"} <= set(header_links(r))
    assert all("col=params.lr" in href for href in header_links(r).values())
    assert rows(r)[0] == ids["run-3"]
    # no column at all is a valid choice
    r = api.get(f"/experiments/{exp}?picked=1")
    assert set(header_links(r)) == {"attributes.run_name", "attributes.start_time", "attributes.status"}


def insert_raw(store, run_id: str, kind: str, key: str, value) -> None:
    """Write a row the API would refuse (a key with < and >), as an old or foreign database may
    hold: the page must still escape it."""
    import sqlalchemy as sa

    from modelyard.store.tracking import tables as schema

    with store.engine.begin() as conn:
        rid = conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.run_uuid == run_id)).scalar_one()
        if kind == "metric":
            point = {"run_id": rid, "key": key, "value": value, "timestamp": 1, "step": 0, "is_nan": False}
            conn.execute(sa.insert(schema.metrics), [point])
            conn.execute(sa.insert(schema.latest_metrics), [point])
        else:
            table = schema.params if kind == "param" else schema.tags
            conn.execute(sa.insert(table), [{"run_id": rid, "key": key, "value": value}])


def test_user_strings_are_escaped(ui_api):
    store = ui_api.services.tracking.store
    exp = store.create_experiment(XSS)
    run_id = make_run(
        store,
        exp,
        XSS,
        1000,
        metrics={"odd key/: x": 1.0},
        params={"p": XSS},
        tags={"team": '"><script>alert(2)</script>'},
    )
    for kind in ("metric", "param", "tag"):
        insert_raw(store, run_id, kind, XSS, 3.0 if kind == "metric" else XSS)
    r = ui_api.get(f"/experiments/{exp}", params={"filter": f"params.p = '{XSS}'"})
    assert r.status_code == 200 and len(rows(r)) == 1
    assert XSS not in r.text and "<script>alert(2)" not in r.text
    assert html.escape(XSS, quote=False) in r.text
    # sort links built from hostile keys are escaped URLs, and sorting by them works
    links = header_links(r)
    assert {f"metrics.{XSS}", f"params.{XSS}", f"tags.{XSS}", "metrics.odd key/: x"} <= set(links)
    for column in (f"metrics.{XSS}", f"params.{XSS}", "metrics.odd key/: x"):
        sorted_r = ui_api.get(links[column])
        assert sorted_r.status_code == 200 and len(rows(sorted_r)) == 1 and XSS not in sorted_r.text
    bad = ui_api.get(f"/experiments/{exp}", params={"filter": XSS})
    assert bad.status_code == 400 and XSS not in bad.text
