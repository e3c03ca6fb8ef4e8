"""The feature pages in Chromium: search the list, open a table (schema, versions, lineage),
preview an older version, follow the lineage to the model version and its feature spec back."""

from test_features_pages import seed


def test_feature_pages_in_the_browser(ui_server, page) -> None:
    ids = seed(ui_server.services, name="browser.features")
    page.goto(ui_server.url + "/experiments")
    page.click("nav.main-nav a:text('Features')")
    page.fill("input[name=q]", "browser")
    page.click("form[role=search] button[type=submit]")
    page.click("a.table-link:text('browser.features')")
    page.wait_for_selector("#schema-table tr[data-column='purchases']")
    assert page.locator("#primary-keys").inner_text() == "customer_id"
    assert page.locator("#history-table tbody tr").count() == 2
    assert page.locator("#preview-table tbody tr").count() == 4
    page.click("#history-table tr[data-version='0'] a.preview-link")
    page.wait_for_url("**/features/browser.features?version=0#preview")
    assert page.locator("#preview-table tbody tr").count() == 3
    assert page.locator(f"#lineage-table tr[data-run-id='{ids['run_id']}']").count() == 1
    page.click("#lineage-table a.model-version-link")
    page.wait_for_selector("#feature-spec-table tr[data-table='browser.features']")
    page.click("#feature-spec-table a.feature-table-link")
    page.wait_for_selector("#schema-table")
    assert page.title().startswith("browser.features")
