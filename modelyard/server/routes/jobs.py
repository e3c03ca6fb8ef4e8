"""Workflows: deploy, list, get, run, pause, resume, delete jobs; list, get, cancel runs; read a
task's logs; publish an event; the webhook that lets an outside system start a job.

All under ``/api/2.0/modelyard/jobs``. A job is named by ``name`` (or its id); runs by
``job_run_id``. The webhook needs the secret of one of the job's ``webhook`` triggers.
"""

from __future__ import annotations

from typing import Any

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import CREATE, DELETE, JOB, READ, UPDATE, USE, needs, public
from modelyard.server.protocol import Message, RouteTable
from modelyard.server.routes.runs import Int64
from modelyard.server.services import Services

table = RouteTable()
BASE = "/modelyard/jobs"


class Deploy(Message):
    definition: dict[str, Any] | str


class JobRef(Message):
    name: str


class RunJob(JobRef):
    params: dict[str, Any] = {}


class ListRuns(Message):
    name: str | None = None
    max_results: Int64 = 25


class RunRef(Message):
    job_run_id: str


class Logs(RunRef):
    task: str | None = None
    attempt: Int64 | None = None
    after: Int64 = -1


class Publish(Message):
    kind: str
    key: str
    payload: dict[str, Any] = {}


class Hook(JobRef):
    secret: str
    key: str | None = None
    payload: dict[str, Any] = {}


def _deployed_name(m: Deploy) -> str | None:
    """The name of the job a definition deploys: updating an existing job needs EDIT on it."""
    from modelyard.jobs.spec import parse

    try:
        return parse(m.definition).name
    except Exception:  # noqa: BLE001 - a bad definition: the handler tells why
        return None


@table.post(BASE + "/deploy", Deploy, needs=needs(JOB, CREATE, _deployed_name))
def deploy(svc: Services, m: Deploy, ctx: RequestContext) -> dict:
    """Create or update a job from its definition (a mapping, or YAML text); idempotent."""
    job, created = svc.jobs.deploy(ctx, m.definition)
    return {"job": job.to_dict(), "created": created}


@table.get(BASE + "/list", needs=needs(JOB, READ))
def list_jobs(svc: Services, m: Message, ctx: RequestContext) -> dict:
    """Every job, with its next due time and its last run."""
    return {"jobs": [j.to_dict() for j in svc.jobs.list_jobs(ctx)]}


@table.get(BASE + "/get", JobRef, needs=needs(JOB, READ, "name"))
def get_job(svc: Services, m: JobRef, ctx: RequestContext) -> dict:
    """One job by name or id."""
    return {"job": svc.jobs.get_job(ctx, m.name).to_dict()}


@table.post(BASE + "/run", RunJob, needs=needs(JOB, USE, "name"))
def run_job(svc: Services, m: RunJob, ctx: RequestContext) -> dict:
    """Start a run now, with parameter overrides."""
    return {"run": svc.jobs.run_now(ctx, m.name, m.params).to_dict()}


@table.post(BASE + "/pause", JobRef, needs=needs(JOB, UPDATE, "name"))
def pause(svc: Services, m: JobRef, ctx: RequestContext) -> dict:
    """Stop firing the job's schedule and triggers (runs in flight go on)."""
    return {"job": svc.jobs.pause(ctx, m.name).to_dict()}


@table.post(BASE + "/resume", JobRef, needs=needs(JOB, UPDATE, "name"))
def resume(svc: Services, m: JobRef, ctx: RequestContext) -> dict:
    """Fire again from now on (due times of the pause are not owed)."""
    return {"job": svc.jobs.resume(ctx, m.name).to_dict()}


@table.post(BASE + "/delete", JobRef, needs=needs(JOB, DELETE, "name"))
def delete(svc: Services, m: JobRef, ctx: RequestContext) -> dict:
    """Delete a job and its run history."""
    svc.jobs.delete_job(ctx, m.name)
    return {}


@table.get(BASE + "/runs/list", ListRuns, needs=needs(JOB, READ, "name"))
def list_runs(svc: Services, m: ListRuns, ctx: RequestContext) -> dict:
    """Runs of a job (or of every job), newest first, with their task runs."""
    return {"runs": [r.to_dict() for r in svc.jobs.list_runs(ctx, m.name, m.max_results)]}


@table.get(BASE + "/runs/get", RunRef, needs=needs(JOB, READ, "job_run_id"))
def get_run(svc: Services, m: RunRef, ctx: RequestContext) -> dict:
    """One job run with every task attempt and the definition it follows."""
    return {"run": svc.jobs.get_run(ctx, m.job_run_id).to_dict(with_spec=True)}


@table.post(BASE + "/runs/cancel", RunRef, needs=needs(JOB, USE, "job_run_id"))
def cancel_run(svc: Services, m: RunRef, ctx: RequestContext) -> dict:
    """Cancel a run: queued tasks never start, running ones have their processes killed."""
    return {"run": svc.jobs.cancel_run(ctx, m.job_run_id).to_dict()}


@table.get(BASE + "/runs/logs", Logs, needs=needs(JOB, READ, "job_run_id"))
def logs(svc: Services, m: Logs, ctx: RequestContext) -> dict:
    """A task attempt's log from chunk ``after + 1`` on; ``next`` is the ``after`` of the next call."""
    return svc.jobs.logs(ctx, m.job_run_id, m.task, m.attempt, m.after)


@table.post(BASE + "/events/publish", Publish, needs=needs(JOB, USE))
def publish(svc: Services, m: Publish, ctx: RequestContext) -> dict:
    """Publish an event; the jobs it triggers start (once per event key); with authentication on,
    only the jobs the caller may USE."""
    return {"job_run_ids": svc.jobs.publish_event(ctx, m.kind, m.key, m.payload)}


@table.post(BASE + "/webhook", Hook, needs=public())
def webhook(svc: Services, m: Hook, ctx: RequestContext) -> dict:
    """Start a job from outside: the body carries the secret of one of its webhook triggers (the
    secret is the authentication, so the route is public); ``key`` deduplicates deliveries."""
    return {"job_run_ids": svc.jobs.webhook(ctx, m.name, m.secret, m.key, m.payload)}
