"""Issue 19, in-process: MLflow's UI links land on our pages, a logged model has its page, a run lists
the registered versions made from it, markdown is rendered and sanitised (descriptions, .md files)."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from modelyard.entities import LoggedModelMetric, LoggedModelOutput, RunTag


def _now() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def seeded(ui_api):
    """An experiment, a run with a logged model (metrics, params), and a registered version of it."""
    store, registry = ui_api.services.tracking.store, ui_api.services.registry.store
    experiment_id = store.create_experiment("quickstart")
    run = store.create_run(experiment_id, "alice", _now(), run_name="baseline")
    run_id = run.info.run_id
    model = store.create_logged_model(experiment_id, "model", source_run_id=run_id, params={"C": "0.5"})
    store.finalize_logged_model(model.model_id, "READY")
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    store.log_logged_model_metrics(
        run_id, [LoggedModelMetric("accuracy", 0.93, _now(), 0, run_id, model.model_id, "iris", "abc")]
    )
    registry.create_registered_model("churn")
    version = registry.create_model_version(
        "churn", f"models:/{model.model_id}", run_id=run_id, model_id=model.model_id
    )
    return {"experiment_id": experiment_id, "run_id": run_id, "model_id": model.model_id, "version": version.version}


def _lands(ui_api, path: str) -> str:
    """Where the server sends a browser that asks for ``path`` (the final page must answer 200)."""
    response = ui_api.get(path)
    seen = []
    while response.status_code in (301, 302, 303, 307, 308):
        seen.append(response.headers["location"])
        response = ui_api.get(response.headers["location"])
    assert response.status_code == 200, (path, seen, response.text[:300])
    return seen[-1] if seen else path


def test_every_mlflow_ui_route_lands_on_our_page(ui_api, seeded):
    e, r, m, v = seeded["experiment_id"], seeded["run_id"], seeded["model_id"], seeded["version"]
    other = ui_api.services.tracking.store.create_run(e, "bob", _now(), run_name="other").info.run_id
    runs_json = quote(f'["{r}","{other}"]')
    experiments_json = quote(f'["{e}"]')
    one_run_json = quote(f'["{r}"]')
    expected = {
        f"/experiments/{e}": f"/experiments/{e}",
        f"/experiments/{e}/runs": f"/experiments/{e}",
        f"/experiments/{e}/runs/{r}": f"/runs/{r}",
        f"/experiments/{e}/runs/{r}/model-metrics": f"/runs/{r}",
        f"/experiments/{e}/runs/{r}/artifacts": f"/runs/{r}/artifacts",
        f"/experiments/{e}/runs/{r}/artifacts/model/MLmodel": f"/runs/{r}/artifacts?path=model/MLmodel",
        f"/compare-runs?runs={runs_json}&experiments={experiments_json}": f"/compare?runs={runs_json}",
        f"/metric/accuracy?runs={runs_json}": f"/compare?runs={runs_json}",
        f"/metric/accuracy?runs={one_run_json}": f"/runs/{r}",
        "/models/churn": "/models/churn",
        f"/models/churn/versions/{v}": f"/models/churn/versions/{v}",
        f"/models/churn/versions/{v}/traces": f"/models/churn/versions/{v}",
        f"/experiments/{e}/models/{m}": f"/logged-models/{m}",
        f"/experiments/{e}/models/{m}/artifacts": f"/logged-models/{m}",
        f"/experiments/{e}/logged-models/{m}": f"/logged-models/{m}",
    }
    for mlflow_path, ours in expected.items():
        if "artifacts?path=" in ours:  # the artifact does not exist: the redirect is what matters
            response = ui_api.get(mlflow_path)
            assert response.status_code == 302 and response.headers["location"] == ours
            continue
        assert _lands(ui_api, mlflow_path) == ours, mlflow_path


def test_the_root_page_carries_the_hash_route_script(ui_api):
    root = ui_api.get("/")
    assert root.status_code == 302 and root.headers["location"] == "/experiments"  # the browser keeps #/...
    page = ui_api.get("/experiments").text
    assert '<script src="/static/mlflow_links.js"></script>' in page
    script = ui_api.get("/static/mlflow_links.js")
    assert script.status_code == 200 and "location.hash" in script.text


def test_a_logged_model_has_its_own_page(ui_api, seeded):
    m, r = seeded["model_id"], seeded["run_id"]
    page = ui_api.get(f"/logged-models/{m}")
    assert page.status_code == 200
    body = page.text
    assert f'load_model("models:/{m}")' in body  # the load snippet
    assert 'id="model-metrics"' in body and "accuracy" in body and "0.93" in body and "iris" in body
    assert 'id="model-params"' in body and "0.5" in body
    assert f'href="/runs/{r}"' in body and "baseline" in body  # the run that logged it
    assert f'href="/models/churn/versions/{seeded["version"]}"' in body  # the version made from it
    assert f'href="/runs/{r}/artifacts?model={m}"' in body
    missing = ui_api.get("/logged-models/m-0000")
    assert missing.status_code == 404 and "<html" in missing.text


def test_the_run_page_links_its_logged_model_and_lists_registered_versions(ui_api, seeded):
    body = ui_api.get(f"/runs/{seeded['run_id']}").text
    assert f'href="/logged-models/{seeded["model_id"]}"' in body
    assert 'id="run-versions"' in body
    assert f'href="/models/churn/versions/{seeded["version"]}">churn version {seeded["version"]}</a>' in body


MARKDOWN = (
    "# Baseline\n\nA **bold** claim with `code` and a [link](https://example.com).\n\n"
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [bad](javascript:alert(3))\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n"
)


def _assert_rendered_and_safe(html: str) -> None:
    assert "<h1>Baseline</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">link</a>' in html
    assert "<table>" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text


def test_markdown_descriptions_are_rendered_sanitised(ui_api, seeded):
    store, registry = ui_api.services.tracking.store, ui_api.services.registry.store
    store.log_batch(seeded["run_id"], tags=[RunTag("mlflow.note.content", MARKDOWN)])
    store.set_experiment_tag(seeded["experiment_id"], "mlflow.note.content", MARKDOWN)
    registry.update_registered_model("churn", description=MARKDOWN)
    registry.update_model_version("churn", seeded["version"], description=MARKDOWN)
    for path in (
        f"/runs/{seeded['run_id']}",
        f"/experiments/{seeded['experiment_id']}",
        "/models/churn",
        f"/models/churn/versions/{seeded['version']}",
    ):
        page = ui_api.get(path)
        assert page.status_code == 200, path
        _assert_rendered_and_safe(page.text)


def test_md_artifacts_are_rendered_with_the_source_one_click_away(ui_api, seeded):
    services = ui_api.services
    run = services.tracking.store.get_run(seeded["run_id"])
    from modelyard.artifacts.service import proxied_path

    services.artifacts.repository().write_bytes(f"{proxied_path(run.info.artifact_uri)}/README.md", MARKDOWN.encode())
    page = ui_api.get(f"/runs/{seeded['run_id']}/artifacts", params={"path": "README.md"})
    assert page.status_code == 200
    assert 'data-kind="markdown"' in page.text and 'id="preview-markdown"' in page.text
    _assert_rendered_and_safe(page.text)
    assert "Markdown source" in page.text


def test_every_logged_model_uri_is_a_link(ui_api, seeded):
    m, r = seeded["model_id"], seeded["run_id"]
    link = f'<a href="/logged-models/{m}">models:/{m}</a>'
    version_page = ui_api.get(f"/models/churn/versions/{seeded['version']}").text
    assert f'id="version-source">{link}</dd>' in version_page
    ui_api.services.tracking.store.set_tag(r, RunTag("deployed", f"models:/{m} <b>now</b>"))
    run_page = ui_api.get(f"/runs/{r}").text
    assert f"{link} &lt;b&gt;now&lt;/b&gt;" in run_page  # the rest of the value stays text


def test_the_chart_view_carries_the_runs_of_the_filter_and_the_chosen_metrics(ui_api, seeded):
    import json
    import re

    from modelyard.entities import Metric

    store = ui_api.services.tracking.store
    e = seeded["experiment_id"]
    other = store.create_run(e, "bob", _now(), run_name="other").info.run_id
    store.log_batch(other, metrics=[Metric("loss", float("nan"), _now(), 0), Metric("acc", 0.5, _now(), 0)])
    store.log_batch(seeded["run_id"], metrics=[Metric("loss", 0.3, _now(), 0)])
    page = ui_api.get(f"/experiments/{e}", params={"view": "charts", "filter": "metrics.acc > 0.1"})
    assert page.status_code == 200
    assert 'id="chart-view-link" href="' in page.text and 'aria-current="page">Charts</a>' in page.text
    data = json.loads(re.search(r'<script type="application/json" id="chart-view-data">(.*?)</script>', page.text, re.S).group(1))
    assert [r["name"] for r in data["runs"]] == ["other"]  # the filter holds in the chart view
    assert data["runs"][0]["metrics"] == {"loss": None, "acc": 0.5}  # NaN travels as null (valid JSON)
    assert data["chosen"] == ["acc", "loss"] and data["metric_keys"] == ["acc", "loss"]
    chosen = ui_api.get(f"/experiments/{e}", params=[("view", "charts"), ("chart", "loss"), ("chart", "nope")])
    data = json.loads(re.search(r'id="chart-view-data">(.*?)</script>', chosen.text, re.S).group(1))
    assert data["chosen"] == ["loss"]
    assert '<input type="hidden" name="view" value="charts">' in chosen.text  # filtering keeps the view


def test_runs_table_has_dataset_and_model_columns_and_the_experiments_list_counts_runs(ui_api, seeded):
    from modelyard.entities import Dataset, DatasetInput, InputTag

    store = ui_api.services.tracking.store
    store.log_inputs(
        seeded["run_id"], [DatasetInput(Dataset("iris", "d1g3st", "local", "x.csv"), (InputTag("mlflow.data.context", "train"),))]
    )
    store.create_run(seeded["experiment_id"], "bob", _now(), run_name="second")
    table = ui_api.get(f"/experiments/{seeded['experiment_id']}").text
    assert "<th>Datasets</th>" in table and "<th>Models</th>" in table
    assert 'title="train · digest d1g3st">iris</span>' in table
    assert f'href="/logged-models/{seeded["model_id"]}"' in table
    listing = ui_api.get("/experiments").text
    row = listing[listing.index(f'href="/experiments/{seeded["experiment_id"]}"') :]
    assert '<td class="num run-count">2</td>' in row[: row.index("</tr>")]


def test_the_artifact_sidebar_says_what_each_entry_holds(ui_api, seeded):
    r, m = seeded["run_id"], seeded["model_id"]
    run_files = ui_api.get(f"/runs/{r}/artifacts").text
    assert ">Files this run logged</a>" in run_files
    assert "<h2>Browse the files of</h2>" in run_files
    assert f'title="models:/{m}">logged model model</a>' in run_files
    assert f'href="/logged-models/{m}"' in run_files
    model_files = ui_api.get(f"/runs/{r}/artifacts", params={"model": m}).text
    assert ">Files of model model</a>" in model_files
