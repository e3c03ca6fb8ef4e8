"""The jobs service: the one entry point for the REST routes, the UI, the CLI and the clients.

Deploy is idempotent (the same definition changes nothing; a new one replaces the old, runs in
flight keep the definition they started with). Runs start from a schedule (the scheduler), by
hand (``run_now``, with parameter overrides), or from an event (``publish_event``).
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from modelyard.auth import visibility
from modelyard.auth.context import RequestContext
from modelyard.entities.job import TERMINAL, Job, JobRun
from modelyard.exceptions import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist
from modelyard.jobs import triggers
from modelyard.jobs.spec import JobSpec, parse
from modelyard.store.jobs.db import Database
from modelyard.store.jobs.sql import SqlJobStore

MAX_RUNS = 1000


class JobService:
    def __init__(self, store: SqlJobStore) -> None:
        self.store = store

    @classmethod
    def from_engine(cls, engine, create_schema: bool = True) -> JobService:
        store = SqlJobStore(Database(engine))
        if create_schema:
            store.create_schema()
        return cls(store)

    def close(self) -> None:
        """Release the database connections (an embedded ``JobClient`` owns its service)."""
        self.store.db.close()

    # -- jobs ---------------------------------------------------------------------------------
    def deploy(self, ctx: RequestContext, definition: JobSpec | dict[str, Any] | str) -> tuple[Job, bool]:
        """Create or update a job from its definition; (job, created)."""
        spec = definition if isinstance(definition, JobSpec) else parse(definition)
        new_schedule = spec.schedule.model_dump() if spec.schedule else None

        def schedule_changed(old: dict) -> bool:
            old_schedule = old.get("schedule")
            return (parse(old).schedule.model_dump() if old_schedule else None) != new_schedule

        job, created = self.store.upsert_job(spec.name, spec.to_json(), schedule_changed, spec.paused if spec.paused else None, ctx.user())
        if created:
            visibility.created(ctx, "job", job.name)  # the creator gets MANAGE on it
        return job, created

    def get_job(self, ctx: RequestContext, name: str) -> Job:
        return self.store.get_job(name)

    def list_jobs(self, ctx: RequestContext) -> list[Job]:
        return visibility.readable(ctx, "job", self.store.list_jobs(), lambda j: j.name)

    def delete_job(self, ctx: RequestContext, name: str) -> None:
        job = self.store.get_job(name)
        self.store.delete_job(job.name)
        visibility.deleted(ctx, "job", job.name)

    def pause(self, ctx: RequestContext, name: str) -> Job:
        return self.store.set_paused(name, True)

    def resume(self, ctx: RequestContext, name: str) -> Job:
        return self.store.set_paused(name, False)

    # -- runs ---------------------------------------------------------------------------------
    def run_now(self, ctx: RequestContext, name: str, params: dict[str, Any] | None = None) -> JobRun:
        job = self.store.get_job(name)
        spec = parse(job.spec)
        spec.check_overrides(params or {})
        run_id = self.store.create_run(job.job_id, "manual", params or {}, ctx.user())
        return self.store.get_run(run_id)

    def list_runs(self, ctx: RequestContext, name: str | None = None, max_results: int = 25) -> list[JobRun]:
        if not 1 <= max_results <= MAX_RUNS:
            raise InvalidParameterValue(f"max_results must be between 1 and {MAX_RUNS}, got {max_results}")
        return visibility.readable(ctx, "job", self.store.list_runs(name, max_results), lambda r: r.job_name)

    def get_run(self, ctx: RequestContext, job_run_id: str) -> JobRun:
        return self.store.get_run(job_run_id)

    def cancel_run(self, ctx: RequestContext, job_run_id: str) -> JobRun:
        run = self.store.get_run(job_run_id)
        if run.status not in TERMINAL:
            self.store.request_cancel(job_run_id)
        return self.store.get_run(job_run_id)

    def logs(self, ctx: RequestContext, job_run_id: str, task: str | None = None, attempt: int | None = None,
             after: int = -1) -> dict[str, Any]:
        """Log text of one task attempt (default: the newest attempt of the first task that ran)
        from chunk ``after + 1`` on: ``{"task", "attempt", "status", "text", "next"}``."""
        run = self.store.get_run(job_run_id)
        key = task or (run.tasks[0].task_key if run.tasks else None)
        tasks = [t for t in run.tasks if t.task_key == key and (attempt is None or t.attempt == attempt)]
        if not tasks:
            which = f"task {key!r}" + (f" attempt {attempt}" if attempt else "") if key else "task"
            raise ResourceDoesNotExist(f"Job run {job_run_id!r} has no {which} run yet")
        chosen = max(tasks, key=lambda t: t.attempt)
        chunks = self.store.read_log(chosen.task_run_id, after)
        return {
            "task": chosen.task_key,
            "attempt": chosen.attempt,
            "status": chosen.status,
            "text": "".join(c for _, c in chunks),
            "next": chunks[-1][0] if chunks else after,
            "done": chosen.status in TERMINAL,
        }

    # -- events -------------------------------------------------------------------------------
    def _active_specs(self) -> list[tuple[str, JobSpec]]:
        return [(r.job_id, parse(json.loads(r.spec))) for r in self.store.schedulable()]

    def publish_event(self, ctx: RequestContext, kind: str, key: str, payload: dict[str, Any] | None = None) -> list[str]:
        """Start the jobs an event triggers (once per event key); the job run ids started."""
        if not kind or not key:
            raise InvalidParameterValue("An event needs a kind and a key")
        specs = [(job_id, spec) for job_id, spec in self._active_specs() if visibility.allowed(ctx, "job", spec.name, "USE")]
        return triggers.publish(self.store, specs, kind, key, payload or {})

    def webhook(self, ctx: RequestContext, name: str, secret: str, key: str | None, payload: dict[str, Any]) -> list[str]:
        """An outside system starts a job through its webhook trigger, proving the trigger's secret."""
        job = self.store.get_job(name)
        spec = parse(job.spec)
        if job.paused:
            return []
        for index, trigger in enumerate(spec.triggers):
            if trigger.on == "webhook" and trigger.secret and hmac.compare_digest(trigger.secret, secret or ""):
                run_id = self.store.fire_event(job.job_id, index, f"webhook:{key or os.urandom(12).hex()}", "webhook", payload)
                return [run_id] if run_id else []
        raise PermissionDenied(f"Job {name!r} has no webhook trigger with that secret")
