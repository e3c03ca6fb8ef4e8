"""The registry pages in a real browser: list → model → version by clicking; set the champion
alias, transition a stage, edit the description and tags; the promotion history shows the moves."""

from __future__ import annotations

import re

XSS = "<img src=x onerror=alert(1)>"


def _seed(services) -> dict:
    tracking, registry = services.tracking.store, services.registry.store
    run = tracking.create_run("0", "ada", 0, run_name="train-churn")
    logged = tracking.create_logged_model("0", name="clf", source_run_id=run.info.run_id)
    registry.create_registered_model(
        "churn", tags={"team": "growth"}, description="Predicts churn.", user_id="ada"
    )
    registry.create_model_version(
        "churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, user_id="ada"
    )
    registry.create_model_version(
        "churn", f"models:/{logged.model_id}", model_id=logged.model_id, user_id="ada"
    )
    registry.set_registered_model_alias("churn", "champion", 1, user_id="ada")
    registry.create_registered_model(XSS, description=XSS, tags={"note": XSS})
    return {"run_id": run.info.run_id, "model_id": logged.model_id}


def test_registry_pages_by_clicking(ui_server, page, shot):
    ids = _seed(ui_server.services)
    registry = ui_server.services.registry.store
    alerts: list[str] = []

    def answer(dialog):
        if dialog.type == "confirm":
            dialog.accept()
        else:  # an alert can only come from injected script
            alerts.append(dialog.message)
            dialog.dismiss()

    page.on("dialog", answer)

    # the list: models, latest versions, aliases; the payload is text, never markup
    page.goto(ui_server.url + "/experiments")
    page.click("header nav >> text=Models")
    page.wait_for_url(re.compile(r"/models$"))
    table = page.locator("#models")
    assert table.locator("a.model-link", has_text=XSS).inner_text() == XSS
    assert table.locator("img").count() == 0
    assert "@champion → v1" in table.locator("tr[data-model-name='churn']").inner_text()
    shot(page, "registry-models")

    page.fill("input[name=q]", "name = ")
    page.click("form[role=search] button[type=submit]")
    assert "Invalid filter" in page.locator("#filter-error").inner_text()
    page.fill("input[name=q]", "chu")
    page.click("form[role=search] button[type=submit]")
    assert page.locator("#models tbody tr[data-model-name]").count() == 1

    # list → model → version
    page.click("#models a.model-link >> text=churn")
    page.wait_for_url(re.compile(r"/models/churn$"))
    assert page.locator("h1").inner_text() == "churn"
    page.click("#versions-table a.version-link >> text=Version 2")
    page.wait_for_url(re.compile(r"/models/churn/versions/2$"))
    assert page.locator("#run-link").get_attribute("href") == f"/runs/{ids['run_id']}"
    assert f"models:/{ids['model_id']}" in page.locator("#logged-model").inner_text()
    assert 'load_model("models:/churn/2")' in page.locator("#load-snippet").inner_text()

    # move champion here
    page.fill("#alias-input", "champion")
    with page.expect_navigation():
        page.click("#set-alias")
    page.locator("#version-aliases [data-alias='champion']").wait_for()
    assert registry.get_registered_model("churn").aliases == {"champion": "2"}

    # a bad alias name is caught in the page; a reserved one is refused by the server, whose
    # message is shown; nothing changes
    page.fill("#alias-input", "no spaces allowed")
    page.click("#set-alias")
    assert "may only contain" in page.locator("#flash.error").inner_text()
    page.fill("#alias-input", "latest")
    page.click("#set-alias")
    page.locator("#flash.error", has_text="reserved").wait_for()
    # Chromium logs every failed fetch; this 400 is the one we asked for
    assert page.console_problems == [
        "console error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    page.console_problems.clear()
    assert registry.get_registered_model("churn").aliases == {"champion": "2"}

    # transition to Production, archiving the others
    page.select_option("#stage-select", "Production")
    page.check("#archive-existing")
    with page.expect_navigation():
        page.click("#transition-stage")
    page.locator("#current-stage .badge.stage-Production").wait_for()
    assert registry.get_model_version("churn", 2).current_stage == "Production"

    # the description, edited in place
    page.click("#description .edit-description")
    page.fill("#description textarea", "Gradient boosting, <b>v2</b>\nretrained weekly")
    with page.expect_navigation():  # the page reloads: the server renders the markdown, sanitised
        page.click("#description .save-description")
    shown = page.locator("#description .description-text")
    assert " ".join(shown.inner_text().split()) == "Gradient boosting, <b>v2</b> retrained weekly"
    assert shown.locator("b").count() == 0  # raw HTML is shown as text, never as markup
    assert (
        registry.get_model_version("churn", 2).description == "Gradient boosting, <b>v2</b>\nretrained weekly"
    )

    # a tag on the version
    page.fill("#tags .tag-key", "validated")
    page.fill("#tags .tag-value", "yes")
    with page.expect_navigation():
        page.click("#tags .set-tag")
    page.locator("#tags tr[data-key='validated']").wait_for()
    assert registry.get_model_version("churn", 2).tags == {"validated": "yes"}
    shot(page, "registry-version")

    # back on the model page: the alias, the stage and the history of the moves
    page.click("nav.crumbs >> text=churn")
    page.wait_for_url(re.compile(r"/models/churn$"))
    assert page.locator("#model-aliases").inner_text().strip() == "@champion → v2"
    assert page.locator("#versions-table tr[data-version='2'] .badge.stage-Production").is_visible()
    history = page.locator("#history-table tbody tr")
    assert history.count() == 3
    texts = [" ".join(history.nth(i).inner_text().split()) for i in range(3)]
    assert "v2 transitioned: None → Production" in texts[0]
    assert "@champion moved: v1 → v2" in texts[1]
    assert "@champion created: (new) → v1" in texts[2] and "ada" in texts[2]

    # the model's description and tags, edited in place
    page.click("#description .edit-description")
    page.fill("#description textarea", "Churn model for the growth team.")
    page.click("#description .save-description")
    page.locator("#description .description-editor").wait_for(state="hidden")
    assert registry.get_registered_model("churn").description == "Churn model for the growth team."
    with page.expect_navigation():
        page.locator("#tags tr[data-key='team'] .delete-tag").click()
    assert page.locator("#tags tbody").inner_text().strip() == "No tags."
    assert registry.get_registered_model("churn").tags == {}
    shot(page, "registry-model")

    # delete the alias from the version page; the history records it
    page.click("#versions-table a.version-link >> text=Version 2")
    page.wait_for_url(re.compile(r"/models/churn/versions/2$"))
    with page.expect_navigation():
        page.click("#version-aliases [data-alias='champion'] .delete-alias")
    assert registry.get_registered_model("churn").aliases == {}
    assert [e.action for e in registry.get_promotion_history("churn", alias="champion")][0] == "deleted"

    # the model named with a payload opens fine and runs nothing
    page.goto(ui_server.url + "/models")
    page.locator("#models a.model-link", has_text=XSS).click()
    page.wait_for_url(re.compile(r"/models/%3Cimg"))
    assert page.locator("h1").inner_text() == XSS
    assert page.locator("main img").count() == 0
    assert alerts == []


def test_missing_model_is_a_404_page(ui_server, page, shot):
    response = page.goto(ui_server.url + "/models/no%20such%20model")
    assert response.status == 404
    assert "RESOURCE_DOES_NOT_EXIST" in page.locator(".error-box").inner_text()
    page.console_problems.clear()  # the 404 itself is logged by the browser, and expected
