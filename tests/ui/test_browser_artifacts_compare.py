"""The artifact browser and the run comparison in a real browser (Playwright, Debian's Chromium).

Artifacts are written through the live server (the tracking client and ``modelyard.sklearn.log_model``
with the tracking URI pointing at it): browse folders by clicking, a CSV previewed as a table, an
image shown, a logged model's MLmodel. Compare: three runs, the differing cells highlighted,
plotly charts drawn (SVG), the scatter's param and metric picked with the selects.
"""

from __future__ import annotations

import time

import pytest

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def tracking_to(ui_server, monkeypatch):
    """The fluent API pointed at the live server (restored afterwards)."""
    import modelyard as my
    from modelyard.tracking import fluent, stores

    for var in (
        "MODELYARD_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MODELYARD_EXPERIMENT_NAME",
        "MLFLOW_RUN_ID",
        "MODELYARD_RUN_ID",
        "MLFLOW_EXPERIMENT_ID",
        "MODELYARD_EXPERIMENT_ID",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_HTTP_REQUEST_MAX_RETRIES", "0")
    my.set_tracking_uri(ui_server.url)
    yield my
    while my.active_run():
        my.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


def crumbs(page) -> list[str]:
    return [c.strip() for c in page.locator("nav.crumbs").inner_text().split("›")]


def no_alerts(page) -> list[str]:
    alerts: list[str] = []

    def answer(dialog):
        alerts.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    return alerts


def test_browse_artifacts_by_clicking(ui_server, tracking_to, page, shot, tmp_path, make_png):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    my = tracking_to
    X, y = load_iris(return_X_y=True, as_frame=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "predictions.csv").write_text(
        "sepal_length,species,note\n5.1,setosa,fine\n7.0,versicolor,"
        + XSS.replace(",", " ")
        + "\n6.3,virginica,ok\n"
    )
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "confusion.png").write_bytes(make_png(40, 30))
    (tmp_path / "plots" / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
        "<script>alert(1)</script><rect width='20' height='20'/></svg>"
    )
    (tmp_path / "plots" / f"{XSS}.txt").write_text("<b>not bold</b>")
    my.set_experiment("artifact-browsing")
    with my.start_run(run_name="iris-logreg") as run:
        my.log_param("C", 1.0)
        my.log_metric("acc", 0.96)
        my.log_artifacts(str(tmp_path / "data"), "data")
        my.log_artifacts(str(tmp_path / "plots"), "plots")
        my.log_text("epoch 1: loss 0.5\nepoch 2: loss 0.3\n", "train.log")
        info = my.sklearn.log_model(
            LogisticRegression(max_iter=300).fit(X, y), name="iris-model", input_example=X.iloc[:3]
        )
    run_id = run.info.run_id
    alerts = no_alerts(page)

    page.goto(f"{ui_server.url}/runs/{run_id}/artifacts")
    tree = page.locator("#artifact-tree")
    assert tree.locator("li.dir[data-path='data'] > a").is_visible()
    assert crumbs(page) == ["Experiments", "artifact-browsing", "iris-logreg", "Artifacts"]
    shot(page, "artifacts-root")

    # folders by clicking in the tree, then the CSV: a table
    tree.locator("li.dir[data-path='data'] > a").click()
    page.wait_for_url("**path=data")
    tree.locator("li.file[data-path='data/predictions.csv'] > a").click()
    page.wait_for_url("**path=data/predictions.csv")
    table = page.locator("#preview-table")
    assert table.locator("thead th").all_inner_texts() == ["sepal_length", "species", "note"]
    assert table.locator("tbody tr").count() == 3
    assert table.locator("tbody tr").nth(1).locator("td").nth(2).inner_text() == XSS.replace(",", " ")
    assert table.locator("img").count() == 0
    assert crumbs(page)[-2:] == ["data", "predictions.csv"]
    shot(page, "artifacts-csv")

    # back up through the breadcrumbs, into plots, the image shows
    page.locator("nav.crumbs a", has_text="Artifacts").click()
    page.locator("#folder-listing a", has_text="plots/").click()
    page.wait_for_url("**path=plots")
    page.locator("#folder-listing a", has_text="confusion.png").click()
    image = page.locator("#preview-image")
    image.wait_for()
    page.wait_for_function("() => document.getElementById('preview-image').complete")
    assert image.evaluate("img => img.naturalWidth") == 40
    shot(page, "artifacts-image")

    # an SVG with a script is only ever an image; a file name with markup is text
    tree.locator("li.file[data-path='plots/evil.svg'] > a").click()
    page.wait_for_function(
        "() => document.getElementById('preview-image') && document.getElementById('preview-image').complete"
    )
    assert page.locator("#preview-image").evaluate("img => img.naturalWidth") == 20
    tree.get_by_text(f"{XSS}.txt").click()
    assert page.locator("#preview-text").inner_text() == "<b>not bold</b>"
    assert (
        page.locator("#artifact-preview b").count() == 0 and page.locator("#artifact-tree img").count() == 0
    )

    # the logged model (its files live outside the run's folder): MLmodel with its signature
    page.locator("#artifact-tree .models a", has_text="iris-model").click()
    page.wait_for_url(f"**model={info.model_id}")
    tree.locator("li.file[data-path='MLmodel'] > a").click()
    page.locator("#mlmodel").wait_for()
    assert "sepal length (cm)" in page.locator("#signature-inputs").inner_text()
    assert page.locator("#input-example tbody tr").count() == 3
    assert f"models:/{info.model_id}" in page.locator("pre.snippet").inner_text()
    shot(page, "artifacts-mlmodel")
    download = page.locator("#download").get_attribute("href")
    assert download.startswith(f"/ajax-api/2.0/mlflow/logged-models/{info.model_id}/artifacts/files?")
    assert alerts == []


def test_compare_three_runs(ui_server, page, shot):
    from modelyard.entities import Metric, Param

    store = ui_server.services.tracking.store
    eid = store.create_experiment("compare-sweep")
    ids = []
    for index, (name, lr, optimizer) in enumerate(
        [("lr-0.1", "0.1", "adam"), ("lr-0.01", "0.01", "adam"), (f"sgd {XSS}", "0.05", "sgd")]
    ):
        run = store.create_run(eid, "alice", int(time.time() * 1000), run_name=name)
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (step + 1 + index), 0, step) for step in range(200)]
            + [Metric("acc", 0.8 + index * 0.05, 0, 0)],
            params=[Param("lr", lr), Param("optimizer", optimizer), Param("epochs", "10")],
        )
        ids.append(run_id)
    alerts = no_alerts(page)

    page.goto(f"{ui_server.url}/compare?runs={','.join(ids)}")
    params = page.locator("#compare-params")
    assert params.locator("td.diff").count() == 6  # lr and optimizer, for 3 runs
    assert params.locator("tr[data-key='epochs'] td.diff").count() == 0
    diff_color = params.locator("tr[data-key='lr'] td").first.evaluate(
        "td => getComputedStyle(td).backgroundColor"
    )
    same_color = params.locator("tr[data-key='epochs'] td").first.evaluate(
        "td => getComputedStyle(td).backgroundColor"
    )
    assert diff_color == "rgb(255, 244, 204)" and diff_color != same_color
    assert page.locator("#compare-runs thead").get_by_text(f"sgd {XSS}").is_visible()
    assert crumbs(page) == ["Experiments", "compare-sweep", "Compare"]

    # plotly draws SVG: the scatter, the parallel coordinates and the overlaid loss curves
    page.locator("#scatter-chart svg.main-svg").first.wait_for()
    page.locator("#parcoords-chart svg.main-svg").first.wait_for()
    loss = page.locator(".metric-chart[data-key='loss']")
    loss.scroll_into_view_if_needed()
    loss.locator("svg.main-svg").first.wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll(\".metric-chart[data-key='loss'] .scatterlayer .trace\").length === 3"
    )
    assert loss.locator(".legendtext").all_text_contents() == ["lr-0.1", "lr-0.01", f"sgd {XSS}"]
    assert page.locator(".metric-chart img, #scatter-chart img").count() == 0
    acc = page.locator(".metric-chart[data-key='acc']")  # one value per run: bars
    page.wait_for_function(
        "() => document.querySelector(\".metric-chart[data-key='acc']\").dataset.drawn === 'bar'"
    )
    assert acc.locator(".barlayer .point").count() == 3

    # pick the scatter's param and metric
    page.select_option("#scatter-x", "optimizer")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#scatter-chart .xtick text')).map(t => t.textContent).join(',') === 'adam,sgd'"
    )
    page.select_option("#scatter-y", "loss")
    page.wait_for_function("() => document.querySelector('#scatter-chart .ytitle').textContent === 'loss'")
    assert page.locator("#scatter-chart .scatterlayer .point").count() == 3
    shot(page, "compare")

    # only the rows that differ
    page.check("#only-diff")
    assert params.locator("tr[data-key='epochs']").is_hidden()
    assert params.locator("tr[data-key='lr']").is_visible()
    assert alerts == []
