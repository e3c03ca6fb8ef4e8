"""The jobs store on SQL: deploy, runs, the claims that make firing exactly-once, task state.

Every state change is a compare-and-set (``UPDATE ... WHERE status = <expected>``) or an insert
that a unique key makes happen once, so any number of schedulers and workers can share one
database. Times are Unix milliseconds.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.entities.job import (
    ACTIVE,
    CANCELLED,
    DISPATCHED,
    QUEUED,
    RUNNING,
    TERMINAL,
    Job,
    JobRun,
    TaskRun,
    loads,
)
from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.store.jobs import tables as t
from modelyard.store.jobs.db import Database
from modelyard.store.sql import dml, queue
from modelyard.store.sql.common import now_ms

logger = logging.getLogger(__name__)


def new_id() -> str:
    return uuid.uuid4().hex


def _job(row, last_run: dict | None = None) -> Job:
    return Job(
        row.job_id, row.name, json.loads(row.spec), bool(row.paused), row.created_at, row.updated_at,
        row.next_fire_at, row.created_by, last_run,
    )


def _task(row) -> TaskRun:
    return TaskRun(
        row.task_run_id, row.job_run_id, row.task_key, row.attempt, row.status, row.executor,
        row.created_at, row.not_before, row.started_at, row.ended_at, row.heartbeat_at, row.owner,
        loads(row.result), row.error, row.exit_code, row.tracking_run_id, row.log_path,
    )


def _run(row, tasks: list[TaskRun] | None = None) -> JobRun:
    return JobRun(
        row.job_run_id, row.job_id, row.job_name, row.status, row.trigger, json.loads(row.params),
        row.created_at, loads(row.trigger_detail), row.due_at, row.started_at, row.ended_at,
        bool(row.cancel_requested), row.created_by, json.loads(row.spec), tasks or [],
    )


class SqlJobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_schema(self) -> None:
        """Create missing tables (tests and the embedded default; servers run the migration)."""
        t.metadata.create_all(self.db.engine)

    # -- jobs ---------------------------------------------------------------------------------
    def upsert_job(self, name: str, spec_json: str, has_schedule_changed, paused: bool | None, user: str | None) -> tuple[Job, bool]:
        now = now_ms()
        with self.db.write() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.name == name)).first()
            if row is None:
                job_id = new_id()
                conn.execute(
                    insert(t.jobs).values(
                        job_id=job_id, name=name, spec=spec_json, paused=bool(paused), created_at=now,
                        updated_at=now, schedule_from=now, created_by=user,
                    )
                )
                created = True
            else:
                job_id, created = row.job_id, False
                values: dict[str, Any] = {}
                if row.spec != spec_json:
                    values.update(spec=spec_json, updated_at=now)
                    if has_schedule_changed(json.loads(row.spec)):
                        values.update(schedule_from=now, next_fire_at=None)
                if paused is not None and bool(row.paused) != paused:
                    values.update(paused=paused, updated_at=now)
                if values:
                    conn.execute(update(t.jobs).where(t.jobs.c.job_id == job_id).values(**values))
            row = conn.execute(select(t.jobs).where(t.jobs.c.job_id == job_id)).one()
        return _job(row), created

    def _job_row(self, conn, name_or_id: str):
        row = conn.execute(
            select(t.jobs).where((t.jobs.c.name == name_or_id) | (t.jobs.c.job_id == name_or_id))
        ).first()
        if row is None:
            raise ResourceDoesNotExist(f"Job {name_or_id!r} does not exist")
        return row

    def get_job(self, name_or_id: str) -> Job:
        with self.db.read() as conn:
            row = self._job_row(conn, name_or_id)
            return _job(row, self._last_run(conn, row.job_id))

    def _last_run(self, conn, job_id: str) -> dict | None:
        row = conn.execute(
            select(t.job_runs.c.job_run_id, t.job_runs.c.status, t.job_runs.c.created_at, t.job_runs.c.ended_at)
            .where(t.job_runs.c.job_id == job_id)
            .order_by(t.job_runs.c.created_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return {"job_run_id": row.job_run_id, "status": row.status, "created_at": row.created_at, "ended_at": row.ended_at}

    def list_jobs(self) -> list[Job]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.jobs).order_by(t.jobs.c.name)).all()
            return [_job(r, self._last_run(conn, r.job_id)) for r in rows]

    def set_paused(self, name_or_id: str, paused: bool) -> Job:
        with self.db.write() as conn:
            row = self._job_row(conn, name_or_id)
            values: dict[str, Any] = {"paused": paused, "updated_at": now_ms()}
            if not paused and row.paused:  # resuming: due times of the pause are not owed
                values.update(schedule_from=now_ms(), next_fire_at=None)
            conn.execute(update(t.jobs).where(t.jobs.c.job_id == row.job_id).values(**values))
        return self.get_job(row.job_id)

    def delete_job(self, name_or_id: str) -> None:
        with self.db.write() as conn:
            job_id = self._job_row(conn, name_or_id).job_id
            runs = select(t.job_runs.c.job_run_id).where(t.job_runs.c.job_id == job_id)
            tasks = select(t.job_task_runs.c.task_run_id).where(t.job_task_runs.c.job_id == job_id)
            conn.execute(delete(t.job_task_logs).where(t.job_task_logs.c.task_run_id.in_(tasks)))
            conn.execute(delete(t.job_task_runs).where(t.job_task_runs.c.job_run_id.in_(runs)))
            for table in (t.job_runs, t.job_fires, t.job_trigger_events, t.jobs):
                conn.execute(delete(table).where(table.c.job_id == job_id))

    def schedulable(self) -> list[Any]:
        """Rows of unpaused jobs: (job_id, name, spec, schedule_from, next_fire_at)."""
        with self.db.read() as conn:
            return conn.execute(
                select(t.jobs.c.job_id, t.jobs.c.name, t.jobs.c.spec, t.jobs.c.schedule_from, t.jobs.c.next_fire_at, t.jobs.c.updated_at)
                .where(t.jobs.c.paused.is_(False))
            ).all()

    def fired_since(self, job_id: str, since: int) -> set[int]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.job_fires.c.due_at).where(and_(t.job_fires.c.job_id == job_id, t.job_fires.c.due_at > since))
            ).all()
        return {r.due_at for r in rows}

    def set_next_fire(self, job_id: str, next_fire_at: int | None, schedule_from: int | None = None) -> None:
        with self.db.write() as conn:
            self._set_next_fire(conn, job_id, next_fire_at, schedule_from)

    def _set_next_fire(self, conn, job_id: str, next_fire_at: int | None, schedule_from: int | None) -> None:
        conn.execute(update(t.jobs).where(t.jobs.c.job_id == job_id).values(next_fire_at=next_fire_at))
        if schedule_from is not None:  # only forward: another scheduler may be further already
            conn.execute(
                update(t.jobs)
                .where(and_(t.jobs.c.job_id == job_id, t.jobs.c.schedule_from < schedule_from))
                .values(schedule_from=schedule_from)
            )

    # -- runs ---------------------------------------------------------------------------------
    def _insert_run(self, conn, job_row, trigger: str, detail: dict | None, params: dict, due_at: int | None, user: str | None,
                    run_id: str | None = None) -> str:
        run_id = run_id or new_id()
        conn.execute(
            insert(t.job_runs).values(
                job_run_id=run_id, job_id=job_row.job_id, job_name=job_row.name, status=QUEUED,
                trigger=trigger, trigger_detail=json.dumps(detail) if detail else None,
                params=json.dumps(params), spec=job_row.spec, created_at=now_ms(), due_at=due_at,
                cancel_requested=False, created_by=user,
            )
        )
        return run_id

    def create_run(self, name_or_id: str, trigger: str, params: dict, user: str | None, detail: dict | None = None) -> str:
        with self.db.write() as conn:
            return self._insert_run(conn, self._job_row(conn, name_or_id), trigger, detail, params, None, user)

    def fire_many(self, claims: list[tuple[Any, int]], next_fires: dict[str, tuple[int | None, int | None]],
                  owner: str) -> list[tuple[Any, int]]:
        """Claim many due times at once and create the runs of those this scheduler won, in one
        transaction; also record each job's next fire time (``job_id -> (next_fire_at,
        schedule_from)``). ``claims`` are (``schedulable()`` row, due time). Returns the claims won.

        The claim rows' primary key decides as in ``fire``: a due time another scheduler claimed
        (or is claiming: this transaction waits for it) is skipped. Every scheduler inserts in the
        same order (job id, due time) and updates jobs in job-id order, so two never deadlock."""
        claims = sorted(claims, key=lambda c: (c[0].job_id, c[1]))
        ordered_nexts = sorted(next_fires.items())

        def work(conn) -> list[tuple[Any, int]]:
            now = now_ms()
            rows = [{"job_id": row.job_id, "due_at": at, "fired_at": now, "fired_by": owner, "job_run_id": new_id()}
                    for row, at in claims]
            won_ids: set[str] = set()
            for start in range(0, len(rows), 500):
                chunk = rows[start:start + 500]
                dml.insert_ignore(conn, t.job_fires, chunk, ["job_id", "due_at"])
                won_ids.update(conn.execute(
                    select(t.job_fires.c.job_run_id).where(t.job_fires.c.job_run_id.in_([r["job_run_id"] for r in chunk]))
                ).scalars())
            won = []
            for (row, at), values in zip(claims, rows, strict=True):
                if values["job_run_id"] in won_ids:
                    self._insert_run(conn, row, "schedule", {"due_at": at}, {}, at, None, run_id=values["job_run_id"])
                    won.append((row, at))
            for job_id, (next_fire_at, schedule_from) in ordered_nexts:
                self._set_next_fire(conn, job_id, next_fire_at, schedule_from)
            return won

        return self.db.transaction(work)

    def fire_event(self, job_id: str, trigger: int, event_key: str, kind: str, payload: dict) -> str | None:
        """Start a run for an event, once per (job, trigger, event key)."""
        try:
            with self.db.write() as conn:
                job_row = self._job_row(conn, job_id)
                conn.execute(
                    insert(t.job_trigger_events).values(job_id=job_id, trigger=trigger, event_key=event_key[:255], created_at=now_ms())
                )
                detail = {"event_key": event_key, "payload": payload}
                run_id = self._insert_run(conn, job_row, kind, detail, {}, None, None)
                conn.execute(
                    update(t.job_trigger_events)
                    .where(and_(t.job_trigger_events.c.job_id == job_id, t.job_trigger_events.c.trigger == trigger,
                                t.job_trigger_events.c.event_key == event_key[:255]))
                    .values(job_run_id=run_id)
                )
                return run_id
        except (IntegrityError, ResourceAlreadyExists):  # the kernel translates the unique-key error
            return None

    def get_run(self, job_run_id: str) -> JobRun:
        with self.db.read() as conn:
            row = conn.execute(select(t.job_runs).where(t.job_runs.c.job_run_id == job_run_id)).first()
            if row is None:
                raise ResourceDoesNotExist(f"Job run {job_run_id!r} does not exist")
            tasks = conn.execute(
                select(t.job_task_runs).where(t.job_task_runs.c.job_run_id == job_run_id).order_by(t.job_task_runs.c.created_at)
            ).all()
        return _run(row, [_task(r) for r in tasks])

    def get_run_of_task(self, task_run_id: str) -> JobRun:
        """The job run a task run belongs to, its task runs included (one read)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(t.job_runs).where(
                    t.job_runs.c.job_run_id
                    == select(t.job_task_runs.c.job_run_id).where(t.job_task_runs.c.task_run_id == task_run_id).scalar_subquery()
                )
            ).first()
            if row is None:
                raise ResourceDoesNotExist(f"Task run {task_run_id!r} does not exist")
            tasks = conn.execute(
                select(t.job_task_runs).where(t.job_task_runs.c.job_run_id == row.job_run_id).order_by(t.job_task_runs.c.created_at)
            ).all()
        return _run(row, [_task(r) for r in tasks])

    def list_runs(self, job_name_or_id: str | None, limit: int = 25, statuses: tuple[str, ...] = ()) -> list[JobRun]:
        with self.db.read() as conn:
            q = select(t.job_runs).order_by(t.job_runs.c.created_at.desc()).limit(limit)
            if job_name_or_id:
                q = q.where(t.job_runs.c.job_id == self._job_row(conn, job_name_or_id).job_id)
            if statuses:
                q = q.where(t.job_runs.c.status.in_(statuses))
            rows = conn.execute(q).all()
            ids = [r.job_run_id for r in rows]
            tasks: dict[str, list[TaskRun]] = {}
            if ids:
                for r in conn.execute(select(t.job_task_runs).where(t.job_task_runs.c.job_run_id.in_(ids))).all():
                    tasks.setdefault(r.job_run_id, []).append(_task(r))
        return [_run(r, sorted(tasks.get(r.job_run_id, []), key=lambda x: x.created_at)) for r in rows]

    def active_runs(self) -> list[JobRun]:
        """Queued and running runs, oldest first (queued runs start in the order they came)."""
        return self.list_runs(None, limit=10_000, statuses=(QUEUED, RUNNING))[::-1]

    def running_count(self, job_id: str) -> int:
        with self.db.read() as conn:
            return conn.execute(
                select(func.count()).select_from(t.job_runs).where(and_(t.job_runs.c.job_id == job_id, t.job_runs.c.status == RUNNING))
            ).scalar_one()

    def start_run(self, job_run_id: str, job_id: str, max_concurrent: int) -> bool:
        """QUEUED -> RUNNING unless the job has ``max_concurrent`` runs running. The job's row is
        locked meanwhile (SELECT ... FOR UPDATE; SQLite's write lock), so two schedulers cannot both
        start one run past the limit."""
        with self.db.write() as conn:
            conn.execute(select(t.jobs.c.job_id).where(t.jobs.c.job_id == job_id).with_for_update()).first()
            running = conn.execute(
                select(func.count()).select_from(t.job_runs).where(and_(t.job_runs.c.job_id == job_id, t.job_runs.c.status == RUNNING))
            ).scalar_one()
            if running >= max_concurrent:
                return False
            return conn.execute(
                update(t.job_runs)
                .where(and_(t.job_runs.c.job_run_id == job_run_id, t.job_runs.c.status == QUEUED))
                .values(status=RUNNING, started_at=now_ms())
            ).rowcount == 1

    def set_run_status(self, job_run_id: str, expected: str, status: str, **values: Any) -> bool:
        with self.db.write() as conn:
            done = conn.execute(
                update(t.job_runs)
                .where(and_(t.job_runs.c.job_run_id == job_run_id, t.job_runs.c.status == expected))
                .values(status=status, **values)
            ).rowcount
        return done == 1

    def request_cancel(self, job_run_id: str) -> None:
        now = now_ms()
        with self.db.write() as conn:
            row = conn.execute(select(t.job_runs.c.status).where(t.job_runs.c.job_run_id == job_run_id)).first()
            if row is None:
                raise ResourceDoesNotExist(f"Job run {job_run_id!r} does not exist")
            conn.execute(update(t.job_runs).where(t.job_runs.c.job_run_id == job_run_id).values(cancel_requested=True))
            conn.execute(
                update(t.job_task_runs)
                .where(and_(t.job_task_runs.c.job_run_id == job_run_id, t.job_task_runs.c.status.in_((QUEUED, DISPATCHED))))
                .values(status=CANCELLED, ended_at=now, error="Cancelled")
            )
            conn.execute(
                update(t.job_task_runs)
                .where(and_(t.job_task_runs.c.job_run_id == job_run_id, t.job_task_runs.c.status == RUNNING))
                .values(cancel_requested=True)
            )

    # -- task runs ----------------------------------------------------------------------------
    def add_task_run(self, job_run_id: str, job_id: str, key: str, attempt: int, executor: str, status: str = QUEUED,
                     not_before: int | None = None, error: str | None = None) -> bool:
        """Insert attempt ``attempt`` of a task; False when it exists (another scheduler was first)."""
        now = now_ms()
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(t.job_task_runs).values(
                        task_run_id=new_id(), job_run_id=job_run_id, job_id=job_id, task_key=key, attempt=attempt,
                        status=status, executor=executor, not_before=not_before or now, created_at=now,
                        ended_at=None if status in ACTIVE else now, error=error, cancel_requested=False,
                    )
                )
            return True
        except (IntegrityError, ResourceAlreadyExists):  # the kernel translates the unique-key error
            return False

    def next_queued_at(self, executor: str) -> int | None:
        with self.db.read() as conn:
            return conn.execute(
                select(func.min(t.job_task_runs.c.not_before)).where(
                    and_(t.job_task_runs.c.status == QUEUED, t.job_task_runs.c.executor == executor)
                )
            ).scalar_one()

    def claim_tasks(self, executor: str, owner: str, limit: int, *, to: str = RUNNING, source: str = QUEUED) -> list[str]:
        """Move up to ``limit`` due task runs from ``source`` to ``to`` for ``owner``; the ids won."""
        now = now_ms()
        with self.db.read() as conn:
            ids = conn.execute(
                select(t.job_task_runs.c.task_run_id)
                .where(and_(t.job_task_runs.c.status == source, t.job_task_runs.c.executor == executor,
                            t.job_task_runs.c.not_before <= now))
                .order_by(t.job_task_runs.c.not_before)
                .limit(limit)
            ).scalars().all()
        if not ids:
            return []
        values: dict[str, Any] = {"owner": owner, "status": to}
        if to == DISPATCHED:
            values["not_before"] = now  # when it was sent: a message no worker takes is resent later
        if to == RUNNING:
            values.update(started_at=now, heartbeat_at=now)
        won = []
        with self.db.write() as conn:  # one transaction; each row still a compare-and-set
            for task_run_id in ids:
                if conn.execute(
                    update(t.job_task_runs)
                    .where(and_(t.job_task_runs.c.task_run_id == task_run_id, t.job_task_runs.c.status == source))
                    .values(**values)
                ).rowcount == 1:
                    won.append(task_run_id)
        return won

    def transition(self, task_run_id: str, expected: str | tuple[str, ...], status: str, **values: Any) -> bool:
        expected = (expected,) if isinstance(expected, str) else expected
        now = now_ms()
        if status == RUNNING:
            values.setdefault("started_at", now)
            values.setdefault("heartbeat_at", now)
        if status in TERMINAL:
            values.setdefault("ended_at", now)
        with self.db.write() as conn:
            done = conn.execute(
                update(t.job_task_runs)
                .where(and_(t.job_task_runs.c.task_run_id == task_run_id, t.job_task_runs.c.status.in_(expected)))
                .values(status=status, **values)
            ).rowcount
        return done == 1

    def get_task_run(self, task_run_id: str) -> TaskRun:
        with self.db.read() as conn:
            row = conn.execute(select(t.job_task_runs).where(t.job_task_runs.c.task_run_id == task_run_id)).first()
        if row is None:
            raise ResourceDoesNotExist(f"Task run {task_run_id!r} does not exist")
        return _task(row)

    def update_task(self, task_run_id: str, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(update(t.job_task_runs).where(t.job_task_runs.c.task_run_id == task_run_id).values(**values))

    def heartbeat(self, task_run_ids: list[str]) -> list[str]:
        """Refresh the heartbeat of running task runs; returns those to stop: a cancel was
        requested, or the run is no longer RUNNING (the reaper failed it: its process must not
        go on, or a retry would run next to it)."""
        if not task_run_ids:
            return []
        with self.db.write() as conn:
            conn.execute(
                update(t.job_task_runs)
                .where(and_(t.job_task_runs.c.task_run_id.in_(task_run_ids), t.job_task_runs.c.status == RUNNING))
                .values(heartbeat_at=now_ms())
            )
            return list(conn.execute(
                select(t.job_task_runs.c.task_run_id).where(
                    and_(
                        t.job_task_runs.c.task_run_id.in_(task_run_ids),
                        t.job_task_runs.c.cancel_requested.is_(True) | (t.job_task_runs.c.status != RUNNING),
                    )
                )
            ).scalars())

    def lapsed(self, before: int) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(
                select(t.job_task_runs.c.task_run_id).where(
                    and_(t.job_task_runs.c.status == RUNNING, t.job_task_runs.c.heartbeat_at < before)
                )
            ).scalars())

    def stale_dispatched(self, before: int) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(
                select(t.job_task_runs.c.task_run_id).where(
                    and_(t.job_task_runs.c.status == DISPATCHED, t.job_task_runs.c.not_before < before)
                )
            ).scalars())

    # -- events from other domains (the kernel's durable queue) -------------------------------
    def claim_registry_events(self, owner: str, lease_s: float, limit: int) -> list[queue.Item]:
        """Lease up to ``limit`` items of the registry's event queue (another scheduler gets the
        others); payload ``{"event", "data"}`` (``store/registry/sql/outbox.py``)."""
        events = queue.Queue(self.db, queue.EVENTS_QUEUE)
        due = events.next_due()  # a read first: no write transaction when there is nothing to take
        if due is None or due > now_ms():
            return []
        return events.claim(owner, lease_s, limit)

    def ack_registry_event(self, item_id: int, owner: str) -> bool:
        return queue.Queue(self.db, queue.EVENTS_QUEUE).ack(item_id, owner)

    # -- logs ---------------------------------------------------------------------------------
    def append_log(self, task_run_id: str, seq: int, data: str) -> None:
        with self.db.write() as conn:
            conn.execute(insert(t.job_task_logs).values(task_run_id=task_run_id, seq=seq, data=data, created_at=now_ms()))

    def read_log(self, task_run_id: str, after_seq: int = -1) -> list[tuple[int, str]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.job_task_logs.c.seq, t.job_task_logs.c.data)
                .where(and_(t.job_task_logs.c.task_run_id == task_run_id, t.job_task_logs.c.seq > after_seq))
                .order_by(t.job_task_logs.c.seq)
            ).all()
        return [(r.seq, r.data) for r in rows]
