"""Moving job runs along their DAG: start queued runs (``max_concurrent_runs``), queue the tasks
whose upstream succeeded, retry failed ones with backoff, mark what cannot run, finish the run,
notify. Also the reaper: a running task whose heartbeat lapsed (its worker died) is failed, and
the retry policy takes over.

Any number of schedulers may call ``advance`` at once: every step is an insert that a unique key
makes happen once, or a compare-and-set, so a run finishes (and notifies) exactly once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from functools import lru_cache

from modelyard.entities.job import (
    ACTIVE,
    CANCELLED,
    DISPATCHED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    UPSTREAM_FAILED,
    JobRun,
)
from modelyard.jobs.spec import JobSpec, parse
from modelyard.settings import Settings
from modelyard.store.sql.common import now_ms

logger = logging.getLogger(__name__)


@lru_cache(maxsize=512)
def spec_of(text: str) -> JobSpec:
    return parse(json.loads(text))


def _spec(run: JobRun) -> JobSpec:
    return spec_of(json.dumps(run.spec, sort_keys=True))


def retry_delay_ms(backoff_s: float, attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: backoff doubling per attempt, capped at one hour."""
    return int(min(3600.0, backoff_s * 2 ** max(0, attempt - 1)) * 1000)


def advance(store, settings: Settings, default_executor: str = "local") -> int:
    """One pass over active runs; returns how many changes it made (0: nothing to do)."""
    changes = 0
    runs = store.active_runs()
    running: dict[str, int] = {}
    for run in runs:
        if run.status == RUNNING:
            running[run.job_id] = running.get(run.job_id, 0) + 1
    for run in runs:
        if run.status == QUEUED and not run.cancel_requested:
            # at the job's limit already (as far as this pass knows): no write, no lock
            if running.get(run.job_id, 0) >= _spec(run).max_concurrent_runs:
                continue
            running[run.job_id] = running.get(run.job_id, 0) + 1
        try:
            changes += _advance_run(store, settings, run, default_executor)
        except Exception:
            logger.exception("advancing job run %s failed", run.job_run_id)
    return changes


def _advance_run(store, settings: Settings, run: JobRun, default_executor: str) -> int:
    spec = _spec(run)
    now = now_ms()
    if run.status == QUEUED:
        if run.cancel_requested:
            return int(store.set_run_status(run.job_run_id, QUEUED, CANCELLED, ended_at=now))
        if not store.start_run(run.job_run_id, run.job_id, spec.max_concurrent_runs):
            return 0
    executor = spec.executor or default_executor
    latest = run.latest()
    by_key = {t.key: t for t in spec.tasks}
    changes = 0
    for key in spec.order():
        task = by_key[key]
        tr = latest.get(key)
        if tr is None:
            deps = [latest.get(d) for d in task.depends_on]
            if run.cancel_requested:
                changes += store.add_task_run(run.job_run_id, run.job_id, key, 1, executor, CANCELLED, error="Cancelled")
            elif any(d is None or d.status in ACTIVE for d in deps):
                continue
            elif all(d.status == SUCCEEDED for d in deps):
                changes += store.add_task_run(run.job_run_id, run.job_id, key, 1, executor)
            else:
                failed = ", ".join(d.task_key for d in deps if d.status != SUCCEEDED)
                changes += store.add_task_run(
                    run.job_run_id, run.job_id, key, 1, executor, UPSTREAM_FAILED, error=f"Upstream task(s) failed: {failed}"
                )
        elif tr.status == FAILED and tr.attempt <= task.retries.max and not run.cancel_requested:
            not_before = (tr.ended_at or now) + retry_delay_ms(task.retries.backoff_seconds, tr.attempt)
            changes += store.add_task_run(run.job_run_id, run.job_id, key, tr.attempt + 1, executor, not_before=not_before)
    if changes:
        return changes
    if len(latest) == len(spec.tasks) and all(
        tr.status in TERMINAL and not (tr.status == FAILED and tr.attempt <= by_key[k].retries.max and not run.cancel_requested)
        for k, tr in latest.items()
    ):
        if run.cancel_requested:
            final = CANCELLED
        elif all(tr.status == SUCCEEDED for tr in latest.values()):
            final = SUCCEEDED
        else:
            final = FAILED
        if store.set_run_status(run.job_run_id, RUNNING, final, ended_at=now):
            notify(store, settings, spec, run.job_run_id, final)
            return 1
    return 0


def reap(store, heartbeat_lapse_s: float, dispatch_lapse_s: float) -> int:
    """Fail running task runs whose heartbeat lapsed; requeue dispatched ones no worker took."""
    now = now_ms()
    count = 0
    for task_run_id in store.lapsed(now - int(heartbeat_lapse_s * 1000)):
        if store.transition(task_run_id, RUNNING, FAILED, error=f"Heartbeat lapsed (no sign of the worker for {heartbeat_lapse_s:g} s)"):
            logger.warning("task run %s: heartbeat lapsed, marked failed", task_run_id)
            count += 1
    for task_run_id in store.stale_dispatched(now - int(dispatch_lapse_s * 1000)):
        count += store.transition(task_run_id, DISPATCHED, QUEUED, not_before=now)
    return count


def notify(store, settings: Settings, spec: JobSpec, job_run_id: str, status: str) -> None:
    urls = spec.notify.on_failure if status == FAILED else spec.notify.on_success if status == SUCCEEDED else []
    if not urls:
        return
    run = store.get_run(job_run_id)
    payload = json.dumps(
        {
            "entity": "job_run",
            "action": status.lower(),
            "timestamp": now_ms(),
            "data": {
                "job": spec.name,
                "job_run_id": job_run_id,
                "status": status,
                "trigger": run.trigger,
                "failed_tasks": [k for k, tr in run.latest().items() if tr.status in (FAILED, UPSTREAM_FAILED)],
            },
        }
    )

    def send() -> None:
        from modelyard.registry import delivery

        for url in urls:
            outcome = delivery.send(url, payload, uuid.uuid4().hex, spec.notify.secret, settings)
            if not outcome.success:
                logger.warning("job %s: notification to %s failed: %s", spec.name, url, outcome.error_message)

    threading.Thread(target=send, name="modelyard-job-notify", daemon=True).start()
