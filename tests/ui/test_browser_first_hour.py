"""Issue 19 in Chromium: the links the mlflow client prints (``http://host/#/experiments/3/runs/<id>``...)
land on our pages; screenshots in test-output/screenshots/."""

from __future__ import annotations

import time

import pytest

from modelyard.entities import LoggedModelOutput


@pytest.fixture(scope="module")
def seeded(ui_server):
    store, registry = ui_server.services.tracking, ui_server.services.registry
    now = int(time.time() * 1000)
    experiment_id = store.create_experiment("links")
    run_ids = [store.create_run(experiment_id, "alice", now, run_name=f"trial-{i}").info.run_id for i in range(2)]
    model = store.create_logged_model(experiment_id, "model", source_run_id=run_ids[0])
    store.finalize_logged_model(model.model_id, "READY")
    store.log_outputs(run_ids[0], [LoggedModelOutput(model.model_id, 0)])
    registry.create_registered_model("links-model")
    version = registry.create_model_version("links-model", f"models:/{model.model_id}", run_id=run_ids[0])
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
