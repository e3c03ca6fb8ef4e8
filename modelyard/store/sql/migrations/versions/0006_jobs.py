"""Workflows: jobs, schedule claims, trigger-event claims, job runs, task runs (one per attempt), task logs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
ID = 32


def _mysql_table_args() -> dict:
    """utf8mb4 with a binary collation, as the other revisions (exact string comparisons)."""
    dialect = op.get_bind().dialect
    if dialect.name != "mysql":
        return {}
    if getattr(dialect, "is_mariadb", False):
        collate = "utf8mb4_nopad_bin"
    elif (dialect.server_version_info or (0,)) >= (8, 0, 17):
        collate = "utf8mb4_0900_bin"
    else:
        collate = "utf8mb4_bin"
    return {"mysql_charset": "utf8mb4", "mysql_collate": collate}


def upgrade() -> None:
    args = _mysql_table_args()
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("spec", LongText, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("schedule_from", sa.BigInteger, nullable=True),
        sa.Column("next_fire_at", sa.BigInteger, nullable=True),
        sa.Column("created_by", sa.String(256), nullable=True),
        **args,
    )
    op.create_table(
        "job_fires",
        sa.Column("job_id", sa.String(ID), nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("job_run_id", sa.String(ID), nullable=True),
        sa.Column("fired_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "due_at", name="job_fires_pk"),
        **args,
    )
    op.create_table(
        "job_trigger_events",
        sa.Column("job_id", sa.String(ID), nullable=False),
        sa.Column("trigger", sa.Integer, nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("job_run_id", sa.String(ID), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "trigger", "event_key", name="job_trigger_events_pk"),
        **args,
    )
    op.create_table(
        "job_runs",
        sa.Column("job_run_id", sa.String(ID), primary_key=True),
        sa.Column("job_id", sa.String(ID), nullable=False),
        sa.Column("job_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("trigger_detail", LongText, nullable=True),
        sa.Column("params", LongText, nullable=False),
        sa.Column("spec", LongText, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=True),
        **args,
    )
    op.create_index("job_runs_job", "job_runs", ["job_id", "created_at"])
    op.create_index("job_runs_status", "job_runs", ["status"])
    op.create_table(
        "job_task_runs",
        sa.Column("task_run_id", sa.String(ID), primary_key=True),
        sa.Column("job_run_id", sa.String(ID), nullable=False),
        sa.Column("job_id", sa.String(ID), nullable=False),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("executor", sa.String(20), nullable=False),
        sa.Column("not_before", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("result", LongText, nullable=True),
        sa.Column("error", LongText, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("tracking_run_id", sa.String(ID), nullable=True),
        sa.Column("log_path", sa.String(1000), nullable=True),
        sa.UniqueConstraint("job_run_id", "task_key", "attempt", name="job_task_runs_attempt"),
        **args,
    )
    op.create_index("job_task_runs_queue", "job_task_runs", ["status", "not_before"])
    op.create_table(
        "job_task_logs",
        sa.Column("task_run_id", sa.String(ID), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("data", LongText, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("task_run_id", "seq", name="job_task_logs_pk"),
        **args,
    )


def downgrade() -> None:
    for name in ("job_task_logs", "job_task_runs", "job_runs", "job_trigger_events", "job_fires", "jobs"):
        op.drop_table(name)
