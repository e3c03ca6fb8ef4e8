"""Jobs pages in-process: the list (next fire time, last status), a job's task graph and grid of
runs x tasks, a job run's Gantt rows, task table, links and logs."""

import time

from modelyard.auth.context import local_context
from modelyard.entities.job import TERMINAL
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.scheduler import Scheduler


def run_job(services, tmp_path, name, params=None):
    ctx = local_context(services.settings, "tester")
    config = JobsConfig(logs_dir=str(tmp_path / "logs"), poll_interval_s=0.05, tracking_uri=services.settings.server.backend_store_uri)
    scheduler = Scheduler(services.jobs, services.tracking, services.registry, ctx, config)
    job_run_id = services.jobs.run_now(ctx, name, params).job_run_id
    deadline = time.monotonic() + 60
    while services.jobs.get_run(ctx, job_run_id).status not in TERMINAL and time.monotonic() < deadline:
        scheduler.run_once()
        time.sleep(0.05)
    scheduler.stop()
    return services.jobs.get_run(ctx, job_run_id)


DEFINITION = {
    "name": "nightly",
    "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
    "tasks": [
        {"key": "extract", "run": ["sh", "-c", "echo extracting"]},
        {"key": "train", "run": ["sh", "-c", "echo training"], "depends_on": ["extract"]},
        {"key": "report", "run": ["sh", "-c", "exit 3"], "depends_on": ["extract"]},
    ],
}


def test_jobs_pages(ui_api, tmp_path):
    services = ui_api.services
    ctx = local_context(services.settings, "tester")
    services.jobs.deploy(ctx, DEFINITION)
    page = ui_api.get("/jobs")
    assert page.status_code == 200 and "nightly" in page.text and "never ran" in page.text
    run = run_job(services, tmp_path, "nightly")
    assert run.status == "FAILED"

    page = ui_api.get("/jobs")
    assert 'class="badge job-status-FAILED"' in page.text
    assert 'class="next-fire">-<' not in page.text  # the scheduler set the next due time

    job = ui_api.get("/jobs/nightly").text
    assert job.count('class="node"') == 3 and job.count("<line") == 2
    assert 'class="cell job-status-SUCCEEDED"' in job and 'class="cell job-status-FAILED"' in job

    detail = ui_api.get(f"/jobs/runs/{run.job_run_id}").text
    assert detail.count('class="gantt-row"') == 3
    train = run.latest()["train"]
    assert f'href="/runs/{train.tracking_run_id}"' in detail
    assert "exited with code 3" in detail
    assert 'data-task="extract"' in detail and "/static/jobs.js" in detail
    logs = ui_api.get(f"/ajax-api/2.0/modelyard/jobs/runs/logs?job_run_id={run.job_run_id}&task=extract").json()
    assert logs["text"] == "extracting\n" and logs["done"] is True


def test_missing_job_is_a_404_page(ui_api):
    page = ui_api.get("/jobs/nope")
    assert page.status_code == 404 and "Job &#39;nope&#39; does not exist" in page.text
