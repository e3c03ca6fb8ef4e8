"""Tracking schema: experiments, runs, params, tags, metrics, latest_metrics, datasets, inputs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Double = sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def _mysql_table_args() -> dict:
    """utf8mb4 with a binary NO PAD collation: ``=``, ``LIKE`` and unique keys compare strings
    exactly (case and trailing spaces), as SQLite and PostgreSQL do. ``utf8mb4_bin`` is PAD SPACE:
    'lr' and 'lr ' would collide. Ignored by other dialects."""
    dialect = op.get_bind().dialect
    if dialect.name != "mysql":
        return {}
    if getattr(dialect, "is_mariadb", False):
        collate = "utf8mb4_nopad_bin"  # MariaDB >= 10.2
    elif (dialect.server_version_info or (0,)) >= (8, 0, 17):
        collate = "utf8mb4_0900_bin"
    else:
        collate = "utf8mb4_bin"
    return {"mysql_charset": "utf8mb4", "mysql_collate": collate}


def _metric_columns() -> list:
    return [
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", Double, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=False), nullable=False),
    ]


def upgrade() -> None:
    table_args = _mysql_table_args()
    op.create_table(
        "experiments",
        sa.Column("experiment_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
        **table_args,
    )
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            BigId,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
        **table_args,
    )
    op.create_table(
        "runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_uuid", sa.String(32), nullable=False),
        sa.Column(
            "experiment_id",
            BigId,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=True),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("deleted_time", sa.BigInteger, nullable=True),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("artifact_uri", sa.String(2000), nullable=False),
        sa.UniqueConstraint("run_uuid", name="uq_runs_run_uuid"),
        **table_args,
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    op.create_table(
        "params",
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(6000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_params"),
        **table_args,
    )
    op.create_table(
        "tags",
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(8000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
        **table_args,
    )
    op.create_table("metrics", *_metric_columns(), **table_args)
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        *_metric_columns(),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        **table_args,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "datasets",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            BigId,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", LongText, nullable=False),
        sa.Column("schema", LongText, nullable=True),
        sa.Column("profile", LongText, nullable=True),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_exp_name_digest"),
        **table_args,
    )
    op.create_table(
        "run_inputs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dataset_id", BigId, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.UniqueConstraint("run_id", "dataset_id", name="uq_run_inputs_run_dataset"),
        **table_args,
    )
    op.create_table(
        "input_tags",
        sa.Column("input_id", BigId, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("input_id", "key", name="pk_input_tags"),
        sa.ForeignKeyConstraint(
            ["input_id"], ["run_inputs.id"], ondelete="CASCADE", name="fk_input_tags_input"
        ),
        **table_args,
    )


def downgrade() -> None:
    for table in (
        "input_tags",
        "run_inputs",
        "datasets",
        "latest_metrics",
        "metrics",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(table)
