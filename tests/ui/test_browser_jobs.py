"""The jobs pages in Chromium: list, job page (graph, grid), run page with live logs."""

from test_jobs_pages import DEFINITION, run_job

from modelyard.auth.context import local_context


def test_jobs_pages_in_the_browser(ui_server, page, tmp_path):
    services = ui_server.services
    ctx = local_context(services.settings, "tester")
    services.jobs.deploy(ctx, {**DEFINITION, "name": "browser-job"})
    run = run_job(services, tmp_path, "browser-job")
    page.goto(ui_server.url + "/jobs")
    page.click("a.job-link:text('browser-job')")
    page.wait_for_selector("#task-graph .node[data-task='train']")
    assert page.locator("#run-grid a.cell").count() == 3
    page.click("#run-grid thead a.grid-run")
    page.wait_for_selector("#gantt .gantt-row[data-task='report']")
    page.wait_for_selector("pre.log[data-task='extract'][data-loaded='true']")
    assert "extracting" in page.locator("pre.log[data-task='extract']").inner_text()
    assert page.locator("#run-status").inner_text() == run.status
