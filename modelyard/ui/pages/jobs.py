"""Workflow pages: the jobs list (next due time, last status), a job's page (its task graph and a
grid of recent runs x tasks), a job run's page (task timings as a Gantt chart, live logs, links
to the tracking runs and the model versions they produced).

Reads go through ``services.jobs``; live logs are fetched by ``static/jobs.js`` from the JSON
API (``/ajax-api/2.0/modelyard/jobs/runs/logs``).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import JOB, READ, needs
from modelyard.jobs.spec import JobSpec
from modelyard.ui.templating import Crumb, page, page_route, render

GRID_RUNS = 25
NODE_W, NODE_H, GAP_X, GAP_Y = 150, 34, 60, 16


def job_url(name: str) -> str:
    return "/jobs/" + quote(name, safe="")


def run_url(job_run_id: str) -> str:
    return "/jobs/runs/" + quote(job_run_id, safe="")


def graph(spec: JobSpec) -> dict:
    """Boxes and edges of the task DAG, laid out in columns by depth (longest path from a root)."""
    depth: dict[str, int] = {}
    for key in spec.order():
        depth[key] = 1 + max((depth[d] for d in spec.task(key).depends_on), default=-1)
    columns: dict[int, list[str]] = {}
    for key in spec.order():
        columns.setdefault(depth[key], []).append(key)
    boxes = {}
    for col, keys in columns.items():
        for row, key in enumerate(keys):
            boxes[key] = {"key": key, "x": 10 + col * (NODE_W + GAP_X), "y": 10 + row * (NODE_H + GAP_Y)}
    edges = [
        {"x1": boxes[d]["x"] + NODE_W, "y1": boxes[d]["y"] + NODE_H / 2, "x2": boxes[t.key]["x"], "y2": boxes[t.key]["y"] + NODE_H / 2}
        for t in spec.tasks for d in t.depends_on
    ]
    width = 20 + (max(columns) + 1) * (NODE_W + GAP_X) - GAP_X
    height = 20 + max(len(v) for v in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    return {"boxes": list(boxes.values()), "edges": edges, "width": width, "height": height, "w": NODE_W, "h": NODE_H}


def _helpers() -> dict:
    return {"job_url": job_url, "run_url": run_url}


@page
def jobs_page(services, request: Request, ctx: RequestContext):
    jobs = services.jobs.list_jobs(ctx)
    return render(request, "jobs/jobs.html", [Crumb("Jobs")], section="jobs", jobs=jobs, **_helpers())


@page
def job_page(services, request: Request, ctx: RequestContext):
    job = services.jobs.get_job(ctx, request.path_params["name"])
    spec = JobSpec.model_validate(job.spec)
    runs = services.jobs.list_runs(ctx, job.name, GRID_RUNS)[::-1]  # oldest left, as in Airflow's grid
    grid = [(key, [r.latest().get(key) for r in runs]) for key in spec.order()]
    return render(
        request, "jobs/job.html", [Crumb("Jobs", "/jobs"), Crumb(job.name)], section="jobs",
        job=job, spec=spec, runs=runs, grid=grid, graph=graph(spec), **_helpers(),
    )


@page
def job_run_page(services, request: Request, ctx: RequestContext):
    run = services.jobs.get_run(ctx, request.path_params["job_run_id"])
    tasks = sorted(run.tasks, key=lambda t: (t.started_at or t.created_at, t.attempt))
    start = min((t.started_at for t in tasks if t.started_at), default=run.started_at or run.created_at)
    end = max((t.ended_at or t.heartbeat_at or t.started_at or start for t in tasks), default=start)
    span = max(1, end - start)
    bars = [
        {
            "task": t,
            "left": 100 * ((t.started_at or start) - start) / span,
            "width": max(0.5, 100 * ((t.ended_at or end) - (t.started_at or end)) / span),
        }
        for t in tasks
    ]
    versions = []
    registry = getattr(services, "registry", None)
    for t in tasks:
        if t.tracking_run_id and registry is not None:
            try:
                versions.extend(registry.search_model_versions(ctx, f"run_id = '{t.tracking_run_id}'", max_results=50))
            except Exception:  # noqa: BLE001 - a registry that cannot search by run: no links
                break
    return render(
        request, "jobs/job_run.html",
        [Crumb("Jobs", "/jobs"), Crumb(run.job_name, job_url(run.job_name)), Crumb(run.job_run_id[:8])],
        section="jobs", run=run, bars=bars, span=span, versions=versions, **_helpers(),
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/jobs", jobs_page, needs=needs(JOB, READ)),
        page_route(services, "/jobs/runs/{job_run_id}", job_run_page, needs=needs(JOB, READ)),
        page_route(services, "/jobs/{name}", job_page, needs=needs(JOB, READ, "name")),
    ]
