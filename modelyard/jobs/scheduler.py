"""The scheduler: fires due times (exactly once, by the claim row), publishes the events it finds,
moves runs along their DAG, fails tasks whose heartbeat lapsed, and hands queued tasks to the
executors (the local one runs them here; Celery ones go to the broker).

Several schedulers share one database safely: nothing they do depends on being alone. One that
is killed is replaced by the others at their next pass (``poll_interval_s``), and its running
tasks by the reaper once their heartbeat lapses. ``start``/``stop``/``wake`` is the shape the
app's lifespan owns (``modelyard server --scheduler``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from modelyard.auth.context import RequestContext
from modelyard.jobs import engine, triggers
from modelyard.jobs.celery_executor import CeleryDispatcher
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.local import LocalExecutor
from modelyard.jobs.schedule import due_times, to_fire
from modelyard.store.sql.common import now_ms
from modelyard.workers import Worker

logger = logging.getLogger(__name__)

EVENT_LEASE_S = 60.0  # a scheduler that claimed registry events and died: another takes them after this


def owner_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    def __init__(self, jobs, tracking, registry, ctx: RequestContext, config: JobsConfig, artifacts=None) -> None:
        self.jobs, self.store = jobs, jobs.store
        self.tracking, self.registry, self.ctx, self.config = tracking, registry, ctx, config
        self.owner = owner_name("scheduler")
        self.local = LocalExecutor(self.store, tracking, ctx, config, self.owner, on_done=self.wake, artifacts=artifacts)
        self.celery = CeleryDispatcher(self.store, config, self.owner)
        self._stop = threading.Event()
        poll = config.poll_interval_s
        self._timer = Worker("modelyard-scheduler-timer", lambda: self._wait_until(self.fire_due()), interval=poll)
        self._worker = Worker("modelyard-scheduler", lambda: self._wait_until(self.work()), interval=poll)
        self._last_scan = 0.0
        self.fired = 0

    def start(self) -> Scheduler:
        """Two background workers: the timer fires due times (never delayed by a long pass over
        runs), the other moves runs along and dispatches tasks."""
        self.local.start()
        self._timer.start()
        self._worker.start()
        return self

    def wake(self) -> None:
        self._worker.wake()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._timer.stop(timeout_s)
        self._worker.stop(timeout_s)
        self.local.stop()
        self.celery.close()

    def is_alive(self) -> bool:
        return self._timer.is_alive() or self._worker.is_alive()

    def run_forever(self) -> None:
        """Run until ``request_stop()`` (the CLI's signal handler), then stop."""
        self.start()
        while not self._stop.is_set():
            self._stop.wait(1.0)
        self.stop()

    def _wait_until(self, until_ms: int | None) -> float:
        wait = self.config.poll_interval_s
        if until_ms is not None:
            wait = max(0.0, min(wait, (until_ms - now_ms()) / 1000))
        return wait

    def run_once(self) -> int | None:
        """One pass of both threads' work (tests drive the scheduler with it); the next due time (ms)."""
        times = [t for t in (self.fire_due(), self.work()) if t is not None]
        return min(times) if times else None

    def work(self) -> int | None:
        """Advance runs and dispatch their tasks first (a fire that woke this pass starts its task
        without waiting for the rest), then publish found events and reap lapsed tasks (and advance
        again if they changed anything); when the next queued local task comes due, if known."""
        self._advance_and_dispatch()
        changed = self.consume_registry_events()
        if time.monotonic() - self._last_scan >= self.config.trigger_poll_s:
            self._last_scan = time.monotonic()
            changed += self.scan_triggers()
        changed += engine.reap(self.store, self.config.heartbeat_lapse_s, self.config.dispatch_lapse_s)
        if changed:
            self._advance_and_dispatch()
        queued = self.store.next_queued_at("local")
        return queued if queued is not None and self.local.free() > 0 else None

    def _advance_and_dispatch(self) -> None:
        """Move runs along until nothing changes, handing tasks to executors after every pass."""
        while True:
            changes = engine.advance(self.store, self.ctx.settings, self.config.executor)
            self.dispatch()
            if not changes:
                return

    def fire_due(self, now: int | None = None) -> int | None:
        """Claim every due time up to ``now`` (epoch ms; the clock when not given) and return the
        soonest next fire time. Tests pass ``now`` to fire a known set of due times."""
        now = now_ms() if now is None else now
        soonest = None
        grace = int(self.config.misfire_grace_s * 1000)
        claims: list[tuple[object, int]] = []
        next_fires: dict[str, tuple[int | None, int | None]] = {}
        for row in self.store.schedulable():
            spec = engine.spec_of(row.spec)
            if spec.schedule is None:
                continue
            if row.next_fire_at is not None and row.next_fire_at > now and row.next_fire_at > row.schedule_from:
                soonest = row.next_fire_at if soonest is None else min(soonest, row.next_fire_at)
                continue  # nothing due yet: no cron arithmetic, no query
            due, nxt = due_times(spec.schedule, row.schedule_from, now)
            if due:
                firing = to_fire(spec.schedule, due, now, grace)
                # several due times (catch-up): skip those fired already; one: the claim decides
                fired = self.store.fired_since(row.job_id, row.schedule_from) if len(firing) > 1 else set()
                claims.extend((row, at) for at in firing if at not in fired)
            if due or row.next_fire_at != nxt:
                next_fires[row.job_id] = (nxt, due[-1] if due else None)
            soonest = nxt if soonest is None else min(soonest, nxt)
        if claims or next_fires:
            # every due time of this pass claimed in one transaction (100 jobs due at once: one
            # round of statements, not 100 transactions contending with the other schedulers')
            won = self.store.fire_many(claims, next_fires, self.owner)
            for row, at in won:
                logger.info("job %s: fired due time %s", row.name, at)
            if won:
                self.fired += len(won)
                self._worker.wake()
        return soonest

    def scan_triggers(self) -> int:
        """Look in the folders that file_arrived triggers watch (every ``trigger_poll_s``); how
        many runs it started."""
        jobs = []
        for row in self.store.schedulable():
            spec = engine.spec_of(row.spec)
            if any(t.on == "file_arrived" for t in spec.triggers):
                jobs.append((row.job_id, spec, row.updated_at))
        if not jobs:
            return 0
        specs = [(job_id, spec) for job_id, spec, _ in jobs]
        return sum(len(triggers.publish(self.store, specs, kind, key, payload)) for kind, key, payload in triggers.scan(jobs))

    def consume_registry_events(self, limit: int = 200) -> int:
        """Start the runs the registry's new events trigger (its event queue, leased, so each item
        is handled by one scheduler; one that dies mid-way leaves it to another after the lease,
        and the event key makes a second handling fire nothing). Returns how many were handled."""
        items = self.store.claim_registry_events(self.owner, EVENT_LEASE_S, limit)
        if not items:
            return 0
        rows = [(row, engine.spec_of(row.spec)) for row in self.store.schedulable()]
        for item in items:
            try:
                event = triggers.from_registry_event(item.id, item.payload)
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("registry event %s is not readable (%s): dropped", item.id, exc)
                event = None
            if event is not None:
                kind, key, payload = event
                # jobs deployed after the change do not see it (as a scan since deploy would not)
                jobs = [(row.job_id, spec) for row, spec in rows if row.updated_at <= item.created_at]
                triggers.publish(self.store, jobs, kind, key, payload)
            self.store.ack_registry_event(item.id, self.owner)
        return len(items)

    def dispatch(self) -> None:
        self.local.dispatch()
        self.celery.dispatch()


def for_server(jobs, tracking, registry, settings, tracking_uri: str, artifacts=None) -> Scheduler:
    """The scheduler of ``modelyard server --scheduler`` (not started: the server's lifespan starts it)."""
    import dataclasses

    from modelyard.auth.context import local_context

    values = {"tracking_uri": tracking_uri}
    if settings.jobs.logs_dir:
        values["logs_dir"] = settings.jobs.logs_dir
    if settings.jobs.broker_url:
        values["broker_url"] = settings.jobs.broker_url
    config = dataclasses.replace(JobsConfig(), **values)
    return Scheduler(jobs, tracking, registry, local_context(settings, "scheduler"), config, artifacts)
