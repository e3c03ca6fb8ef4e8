"""The runs page's default order (``start_time DESC``, NULLs last, then ``run_uuid``) served from
an index: ``(experiment_id, start_time DESC, run_uuid, lifecycle_stage)`` replaces
``(experiment_id, start_time)``, so a page of an experiment's newest runs is an index walk that
stops after the page, with no sort of every run. PostgreSQL sorts NULL above every value, so its
index says ``NULLS LAST`` (SQLite and MariaDB sort NULL below every value: a descending column puts
them last already). ``lifecycle_stage`` last: the active/deleted test is read from the index, and
counting an experiment's active runs (the experiments page) reads the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NAME = "ix_runs_experiment_start_uuid"


def upgrade() -> None:
    start = "start_time DESC NULLS LAST" if op.get_bind().dialect.name == "postgresql" else "start_time DESC"
    # The new index first: on MariaDB the experiment_id foreign key needs an index at all times.
    op.create_index(NAME, "runs", ["experiment_id", sa.text(start), "run_uuid", "lifecycle_stage"])
    op.drop_index("ix_runs_experiment_start", table_name="runs")


def downgrade() -> None:
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    op.drop_index(NAME, table_name="runs")
