"""Model registry: registered models, versions, tags, aliases, promotion history, webhooks, deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


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


def _fk(name: str, target: str) -> sa.Column:
    return sa.Column(name, BigId, sa.ForeignKey(target, ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    args = _mysql_table_args()
    op.create_table(
        "registered_models",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("deployment_job_id", sa.String(256), nullable=True),
        sa.Column("last_version", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
        **args,
    )
    op.create_index("ix_registered_models_last_updated", "registered_models", ["last_updated_time"])
    op.create_table(
        "registered_model_tags",
        _fk("rm_id", "registered_models.id"),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", LongText, nullable=False),
        sa.PrimaryKeyConstraint("rm_id", "key", name="pk_registered_model_tags"),
        **args,
    )
    op.create_index("ix_registered_model_tags_key", "registered_model_tags", ["key"])
    op.create_table(
        "model_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _fk("rm_id", "registered_models.id"),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("storage_location", sa.Text, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("run_link", sa.Text, nullable=True),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.String(500), nullable=True),
        sa.Column("is_latest", sa.Boolean(create_constraint=False), nullable=False),
        sa.UniqueConstraint("rm_id", "version", name="uq_model_versions_rm_version"),
        **args,
    )
    op.create_index(
        "ix_model_versions_rm_stage_version", "model_versions", ["rm_id", "current_stage", "version"]
    )
    op.create_index("ix_model_versions_rm_latest", "model_versions", ["rm_id", "is_latest"])
    op.create_index("ix_model_versions_last_updated", "model_versions", ["last_updated_time"])
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_table(
        "model_version_tags",
        _fk("mv_id", "model_versions.id"),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", LongText, nullable=False),
        sa.PrimaryKeyConstraint("mv_id", "key", name="pk_model_version_tags"),
        **args,
    )
    op.create_index("ix_model_version_tags_key", "model_version_tags", ["key"])
    op.create_table(
        "registered_model_aliases",
        _fk("rm_id", "registered_models.id"),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("rm_id", "alias", name="pk_registered_model_aliases"),
        **args,
    )
    op.create_table(
        "promotion_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rm_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_version", sa.BigInteger, nullable=True),
        sa.Column("to_version", sa.BigInteger, nullable=True),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=True),
        sa.Column("reason", sa.String(250), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        **args,
    )
    op.create_index("ix_promotion_history_rm", "promotion_history", ["rm_id", "id"])
    op.create_index("ix_promotion_history_name", "promotion_history", ["name", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("secret", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("webhook_id", name="uq_webhooks_webhook_id"),
        **args,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        _fk("webhook_id", "webhooks.id"),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_timestamp", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_timestamp", sa.BigInteger, nullable=True),
        sa.Column("last_attempt_timestamp", sa.BigInteger, nullable=True),
        sa.Column("claimed_until", sa.BigInteger, nullable=True),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("is_test", sa.Boolean(create_constraint=False), nullable=False),
        sa.UniqueConstraint("delivery_id", name="uq_webhook_deliveries_delivery_id"),
        **args,
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_timestamp"])
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "webhooks",
        "promotion_history",
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
