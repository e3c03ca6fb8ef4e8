"""The experiments page in a real browser: list, search, create, rename, delete, XSS."""

from __future__ import annotations

import re

XSS = "<img src=x onerror=alert(1)>"


def test_experiments_page_create_search_rename_delete(ui_server, page, shot):
    store = ui_server.services.tracking.store
    store.create_experiment("churn-baseline")
    store.create_experiment(XSS)
    alerts: list[str] = []

    def answer(dialog):
        if dialog.type == "prompt":
            dialog.accept("renamed one")
        elif dialog.type == "confirm":
            dialog.accept()
        else:  # an alert can only come from injected script
            alerts.append(dialog.message)
            dialog.dismiss()

    page.on("dialog", answer)
    page.goto(ui_server.url + "/")
    assert page.url.endswith("/experiments")
    table = page.locator("#experiments")
    assert table.get_by_text("churn-baseline").is_visible()
    # the payload is shown as text, never run: no alert, no injected <img>
    assert table.get_by_text(XSS).is_visible()
    assert table.locator("img").count() == 0
    shot(page, "experiments")

    page.fill("input[name=q]", "churn")
    page.click("form[role=search] button[type=submit]")
    rows = page.locator("#experiments tbody tr[data-experiment-id]")
    assert rows.count() == 1 and "churn-baseline" in rows.first.inner_text()

    page.fill("input[name=q]", "name = ")
    page.click("form[role=search] button[type=submit]")
    assert "error" in page.locator("#filter-error").inner_text().lower() or page.locator("#filter-error").is_visible()

    page.goto(ui_server.url + "/experiments")
    page.fill("#new-experiment-name", "fresh one")
    page.click("#create-experiment")
    page.wait_for_url(re.compile(r"/experiments/\d+$"))
    created = store.get_experiment_by_name("fresh one")
    assert created is not None and page.url.endswith(f"/experiments/{created.experiment_id}")

    page.goto(ui_server.url + "/experiments")
    row = page.locator(f"tr[data-experiment-id='{created.experiment_id}']")
    row.locator("button.rename").click()
    page.wait_for_load_state("load")
    page.locator("#experiments").get_by_text("renamed one").wait_for()
    assert store.get_experiment(created.experiment_id).name == "renamed one"

    row = page.locator(f"tr[data-experiment-id='{created.experiment_id}']")
    row.locator("button.delete").click()
    row.wait_for(state="detached")
    assert store.get_experiment(created.experiment_id).lifecycle_stage == "deleted"
    assert alerts == []
