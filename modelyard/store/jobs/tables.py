"""The workflow tables. Exactly-once is kept by the database, not by timing:

- ``job_fires``: one row per (job, due time) a schedule fired; its primary key is the claim, so
  of several schedulers that see the same due time only one inserts it (and creates the run in
  the same transaction).
- ``job_trigger_events``: one row per (job, trigger, event key): an event starts a job at most once.
The tables are created by the migration ``0006_jobs`` (the same columns); ``create_all`` only fills
in a database that was never migrated.

- ``job_task_runs``: one row per attempt of a task in a job run, unique (run, task, attempt): two
  schedulers that both decide a retry insert it once. State moves by compare-and-set updates.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, LongText, metadata  # the one MetaData

ID = 32

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("spec", LongText, nullable=False),  # the JobSpec as JSON
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("schedule_from", BigInteger, nullable=True),  # due times after this (ms) are owed
    Column("next_fire_at", BigInteger, nullable=True),  # the next due time, for listings and sleeps
    Column("created_by", String(256), nullable=True),
    **MYSQL_TABLE_ARGS,
)

job_fires = Table(
    "job_fires",
    metadata,
    Column("job_id", String(ID), nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("fired_at", BigInteger, nullable=False),
    Column("job_run_id", String(ID), nullable=True),
    Column("fired_by", String(128), nullable=True),
    PrimaryKeyConstraint("job_id", "due_at", name="job_fires_pk"),
    **MYSQL_TABLE_ARGS,
)

job_trigger_events = Table(
    "job_trigger_events",
    metadata,
    Column("job_id", String(ID), nullable=False),
    Column("trigger", Integer, nullable=False),
    Column("event_key", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("job_run_id", String(ID), nullable=True),
    PrimaryKeyConstraint("job_id", "trigger", "event_key", name="job_trigger_events_pk"),
    **MYSQL_TABLE_ARGS,
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("job_run_id", String(ID), primary_key=True),
    Column("job_id", String(ID), nullable=False),
    Column("job_name", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # QUEUED RUNNING SUCCEEDED FAILED CANCELLED
    Column("trigger", String(40), nullable=False),  # manual | schedule | <event kind>
    Column("trigger_detail", LongText, nullable=True),  # JSON: due time, event key and payload
    Column("params", LongText, nullable=False),  # JSON: the run's overrides
    Column("spec", LongText, nullable=False),  # the JobSpec the run follows (a redeploy does not change it)
    Column("created_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=True),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_by", String(256), nullable=True),
    Index("job_runs_job", "job_id", "created_at"),
    Index("job_runs_status", "status"),
    **MYSQL_TABLE_ARGS,
)

job_task_runs = Table(
    "job_task_runs",
    metadata,
    Column("task_run_id", String(ID), primary_key=True),
    Column("job_run_id", String(ID), nullable=False),
    Column("job_id", String(ID), nullable=False),
    Column("task_key", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),
    # QUEUED DISPATCHED RUNNING SUCCEEDED FAILED CANCELLED UPSTREAM_FAILED
    Column("status", String(20), nullable=False),
    Column("executor", String(20), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    Column("owner", String(128), nullable=True),  # the scheduler or worker running it
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("result", LongText, nullable=True),  # JSON: the task's return value
    Column("error", LongText, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("tracking_run_id", String(ID), nullable=True),
    Column("log_path", String(1000), nullable=True),
    UniqueConstraint("job_run_id", "task_key", "attempt", name="job_task_runs_attempt"),
    Index("job_task_runs_queue", "status", "not_before"),
    **MYSQL_TABLE_ARGS,
)

job_task_logs = Table(
    "job_task_logs",
    metadata,
    Column("task_run_id", String(ID), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("data", LongText, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("task_run_id", "seq", name="job_task_logs_pk"),
    **MYSQL_TABLE_ARGS,
)

TABLES = (jobs, job_fires, job_trigger_events, job_runs, job_task_runs, job_task_logs)
