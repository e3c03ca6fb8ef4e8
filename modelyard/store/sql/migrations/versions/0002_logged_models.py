"""Logged models (MLflow 3): logged_models, their tags, params and metrics; run outputs and model inputs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Double = sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql", "mariadb")


def _mysql_table_args() -> dict:
    """The same utf8mb4 binary NO PAD collation as revision 0001 (exact string comparisons)."""
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


def _model_fk() -> sa.Column:
    return sa.Column("model_id", BigId, sa.ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    table_args = _mysql_table_args()
    op.create_table(
        "logged_models",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column(
            "experiment_id",
            BigId,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(500), nullable=True),
        sa.Column("source_run_id", sa.String(32), nullable=True),
        sa.Column("status_message", sa.String(1000), nullable=True),
        sa.UniqueConstraint("model_id", name="uq_logged_models_model_id"),
        **table_args,
    )
    op.create_index(
        "ix_logged_models_experiment_created", "logged_models", ["experiment_id", "creation_timestamp_ms"]
    )
    op.create_index("ix_logged_models_experiment_name", "logged_models", ["experiment_id", "name"])
    op.create_table(
        "logged_model_tags",
        _model_fk(),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "key", name="pk_logged_model_tags"),
        **table_args,
    )
    op.create_table(
        "logged_model_params",
        _model_fk(),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "key", name="pk_logged_model_params"),
        **table_args,
    )
    op.create_table(
        "logged_model_metrics",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", Double, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset_name", sa.String(500), nullable=False),
        sa.Column("dataset_digest", sa.String(36), nullable=False),
        **table_args,
    )
    op.create_index(
        "ix_logged_model_metrics_model_key", "logged_model_metrics", ["model_id", "key", "timestamp"]
    )
    op.create_table(
        "run_outputs",
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        _model_fk(),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "model_id", "step", name="pk_run_outputs"),
        **table_args,
    )
    op.create_table(
        "run_model_inputs",
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        _model_fk(),
        sa.PrimaryKeyConstraint("run_id", "model_id", name="pk_run_model_inputs"),
        **table_args,
    )


def downgrade() -> None:
    for table in (
        "run_model_inputs",
        "run_outputs",
        "logged_model_metrics",
        "logged_model_params",
        "logged_model_tags",
        "logged_models",
    ):
        op.drop_table(table)
