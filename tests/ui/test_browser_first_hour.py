"""Issue 19 in Chromium: the links the mlflow client prints (``http://host/#/experiments/3/runs/<id>``...)
land on our pages; screenshots in test-output/screenshots/."""

from __future__ import annotations

import time

import pytest

from modelyard.entities import LoggedModelOutput


@pytest.fixture(scope="module")
def seeded(ui_server):
    store, registry = ui_server.services.tracking.store, ui_server.services.registry.store
    now = int(time.time() * 1000)
    experiment_id = store.create_experiment("links")
    run_ids = [store.create_run(experiment_id, "alice", now, run_name=f"trial-{i}").info.run_id for i in range(2)]
    model = store.create_logged_model(experiment_id, "model", source_run_id=run_ids[0])
    store.finalize_logged_model(model.model_id, "READY")
    store.log_outputs(run_ids[0], [LoggedModelOutput(model.model_id, 0)])
    registry.create_registered_model("links-model")
    version = registry.create_model_version(
        "links-model", f"models:/{model.model_id}", run_id=run_ids[0], model_id=model.model_id
    )
    return experiment_id, run_ids, model.model_id, version.version


def test_mlflow_hash_links_land_on_our_pages(page, ui_server, seeded, shot):
    e, (r, other), m, v = seeded
    cases = [
        (f"/#/experiments/{e}", f"/experiments/{e}", "#runs"),
        (f"/#/experiments/{e}/runs/{r}", f"/runs/{r}", "#run-name"),
        (f"/#/experiments/{e}/runs/{r}/artifacts", f"/runs/{r}/artifacts", "#artifact-preview"),
        (f'/#/compare-runs?runs=["{r}","{other}"]&experiments=["{e}"]', "/compare?runs=", "main"),
        ("/#/models/links-model", "/models/links-model", "main"),
        (f"/#/models/links-model/versions/{v}", f"/models/links-model/versions/{v}", "main"),
        (f"/#/experiments/{e}/models/{m}", f"/logged-models/{m}", "#model-name"),
    ]
    for link, lands, selector in cases:
        page.goto(ui_server.url + link)
        page.wait_for_url(lambda url, lands=lands: lands in url and "#/" not in url)
        page.locator(selector).first.wait_for()
        assert page.title() != "Error · modelyard", link
    shot(page, "mlflow-link-logged-model")


def test_a_hash_link_never_leaves_the_site(page, ui_server):
    page.goto(ui_server.url + "/#//example.com/phish")
    page.wait_for_load_state()
    assert page.url.startswith(ui_server.url)


# -- the experiment's chart view, live runs, charts that fit the data --------------------------------
LOSS_RUNS = 4


@pytest.fixture(scope="module")
def chart_runs(ui_server):
    from modelyard.entities import Metric, Param

    store = ui_server.services.tracking.store
    experiment_id = store.create_experiment("chart view")
    t0 = 1_700_000_000_000
    ids = []
    for i in range(LOSS_RUNS):
        run_id = store.create_run(experiment_id, "alice", t0 + i, run_name=f"lr-{i}").info.run_id
        history = [Metric("loss", (1 + i) * 10.0 / (s + 1), t0 + s * 1000, s) for s in range(60)]
        store.log_batch(run_id, metrics=[*history, Metric("accuracy", 0.7 + i / 20, t0, 0)],
                        params=[Param("lr", str(0.1 / (i + 1)))])
        if i:  # the first one is still running
            store.update_run_info(run_id, "FINISHED", t0 + 90_000)
        ids.append(run_id)
    return experiment_id, ids


def _traces(page, metric: str) -> int:
    return page.evaluate(
        f"document.querySelector(\".view-chart[data-metric='{metric}']\").querySelectorAll('.scatterlayer .trace').length"
    )


def test_the_chart_view_draws_every_run_in_its_colour(page, ui_server, chart_runs, shot):
    experiment_id, ids = chart_runs
    page.goto(f"{ui_server.url}/experiments/{experiment_id}")
    swatch = page.locator(f"#runs .run-swatch[data-run-id='{ids[1]}']")
    table_colour = swatch.evaluate("el => getComputedStyle(el).backgroundColor")
    page.click("#chart-view-link")
    page.wait_for_url("**view=charts**")
    loss = page.locator(".view-chart[data-metric='loss'][data-state='done'][data-drawn='lines']")
    loss.wait_for()
    assert _traces(page, "loss") == LOSS_RUNS
    # one value per run: a bar per run, not a line on a -1..1 axis
    page.locator(".view-chart[data-metric='accuracy'][data-drawn='bar']").wait_for()
    # the run's colour is the one of the table's swatch, in the chart too
    chart_colours = page.evaluate(
        "Array.from(document.querySelector(\".view-chart[data-metric='loss']\").data).map(t => t.line.color)"
    )
    view_swatch = page.locator(f".run-list .run-swatch[data-run-id='{ids[1]}']")
    assert view_swatch.evaluate("el => getComputedStyle(el).backgroundColor") == table_colour
    run_colour = page.evaluate(f"window.modelyard.charts.runColor('{ids[1]}')")
    assert run_colour in chart_colours
    # the scatter: parameter vs metric, one point per run
    page.locator("#view-scatter .scatterlayer .point").first.wait_for()
    assert page.locator("#view-scatter .scatterlayer .point").count() == LOSS_RUNS
    # the live state: one run is running
    assert page.locator("#live-state").is_visible()
    shot(page, "experiment-chart-view")

    # hide a run: its line goes
    page.locator(f".run-list input.show-run[value='{ids[2]}']").uncheck()
    page.wait_for_function("() => document.querySelector(\".view-chart[data-metric='loss']\").data.length === 3")
    # log scale, smoothing (raw line faint + smoothed line), wall-clock x axis
    page.check("[name=chart-log]")
    page.wait_for_function("() => document.querySelector(\".view-chart[data-metric='loss']\").layout.yaxis.type === 'log'")
    page.fill("[name=chart-smoothing]", "0.8")
    page.wait_for_function("() => document.querySelector(\".view-chart[data-metric='loss']\").data.length === 6")
    page.select_option("[name=chart-x]", "wall")
    page.wait_for_function("() => document.querySelector(\".view-chart[data-metric='loss']\").layout.xaxis.type === 'date'")
    shot(page, "experiment-chart-view-log-smoothed")

    # the same colour for the run on its own page and on the compare page
    for url in (f"/runs/{ids[1]}", f"/compare?runs={ids[1]},{ids[2]}"):
        page.goto(ui_server.url + url)
        swatch = page.locator(f".run-swatch[data-run-id='{ids[1]}']").first
        page.wait_for_function(
            f"() => document.querySelector(\".run-swatch[data-run-id='{ids[1]}']\").style.background !== ''"
        )
        assert swatch.evaluate("el => getComputedStyle(el).backgroundColor") == table_colour, url


def test_a_live_run_refreshes_by_itself(page, ui_server, chart_runs):
    from modelyard.entities import Metric

    experiment_id, ids = chart_runs
    store = ui_server.services.tracking.store
    page.goto(f"{ui_server.url}/runs/{ids[0]}")
    assert page.locator("#live-state").is_visible()
    chart = page.locator(".chart[data-metric='loss'][data-state='done']")
    chart.wait_for()
    assert chart.get_attribute("data-points") == "60"
    store.log_batch(ids[0], metrics=[Metric("loss", 0.01, 1_700_000_100_000, s) for s in range(60, 70)])
    page.wait_for_function(
        "() => document.querySelector(\".chart[data-metric='loss']\").dataset.points === '70'", timeout=20_000
    )
    page.locator("#metrics tr[data-key='loss'] .latest-value", has_text="0.01").wait_for(timeout=20_000)
    # a single-value metric is that value, not a chart
    page.locator(".chart[data-metric='accuracy'][data-drawn='value']").wait_for()
    assert page.locator(".chart[data-metric='accuracy'] .metric-value").inner_text() == "0.7"
    store.update_run_info(ids[0], "FINISHED", 1_700_000_200_000)
    page.locator("#run-status", has_text="FINISHED").wait_for(timeout=20_000)
    page.locator("#live-state").wait_for(state="hidden")
    page.goto(f"{ui_server.url}/runs/{ids[1]}")  # a finished run is not live
    page.locator(".chart[data-metric='loss'][data-state='done']").wait_for()
    assert not page.locator("#live-state").is_visible()
