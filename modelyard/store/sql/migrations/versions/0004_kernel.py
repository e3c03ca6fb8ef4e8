"""The SQL kernel: the durable work queue, the inference log in the chain, webhook deliveries queued.

- ``queue_items``: the generic leased queue (``modelyard.store.sql.queue``).
- ``modelyard_inference_log``: the scoring server's log, which it used to make with ``create_all``;
  a database that already has it keeps it as it is (same columns and index names).
- every webhook delivery still to be sent (PENDING, or IN_FLIGHT under a lease) gets its queue item,
  due when its next attempt or its lease was; the delivery log itself is unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
INFERENCE_LOG = "modelyard_inference_log"
WEBHOOK_QUEUE = "webhooks"
WEBHOOK_MAX_ATTEMPTS = 5  # Settings.webhook_max_attempts's default; the worker applies the setting


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


def upgrade() -> None:
    args = _mysql_table_args()
    op.create_table(
        "queue_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("available_at", sa.BigInteger, nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("queue", "dedup_key", name="uq_queue_items_dedup"),
        **args,
    )
    op.create_index("ix_queue_items_due", "queue_items", ["queue", "state", "available_at"])
    if not sa.inspect(op.get_bind()).has_table(INFERENCE_LOG):
        op.create_table(
            INFERENCE_LOG,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("request_id", sa.String(128)),
            sa.Column("time", sa.DateTime(timezone=True)),
            sa.Column("model", sa.String(256)),
            sa.Column("version", sa.String(128)),
            sa.Column("status", sa.Integer),
            sa.Column("latency_ms", sa.Float),
            sa.Column("content_type", sa.String(128)),
            sa.Column("request", sa.Text),
            sa.Column("response", sa.Text),
            **args,
        )
        op.create_index(f"ix_{INFERENCE_LOG}_request_id", INFERENCE_LOG, ["request_id"])
        op.create_index(f"ix_{INFERENCE_LOG}_time", INFERENCE_LOG, ["time"])
    _queue_open_deliveries()


def _queue_open_deliveries() -> None:
    deliveries = sa.table(
        "webhook_deliveries",
        sa.column("delivery_id", sa.String),
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("created_timestamp", sa.BigInteger),
        sa.column("next_attempt_timestamp", sa.BigInteger),
        sa.column("claimed_until", sa.BigInteger),
        sa.column("is_test", sa.Boolean),
    )
    items = sa.table(
        "queue_items",
        *(sa.column(c) for c in ("queue", "payload", "dedup_key", "state", "attempts", "max_attempts")),
        sa.column("available_at"),
        sa.column("created_at"),
    )
    d = deliveries.c
    due = sa.case(
        (d.status == "PENDING", d.next_attempt_timestamp), else_=d.claimed_until
    )
    rows = sa.select(
        sa.literal(WEBHOOK_QUEUE),
        d.delivery_id,
        d.delivery_id,
        sa.literal("ready"),
        d.attempts,
        sa.literal(WEBHOOK_MAX_ATTEMPTS),
        sa.func.coalesce(due, d.created_timestamp),
        d.created_timestamp,
    ).where(d.status.in_(["PENDING", "IN_FLIGHT"]), d.is_test == sa.false())
    columns = ["queue", "payload", "dedup_key", "state", "attempts", "max_attempts", "available_at", "created_at"]
    op.execute(items.insert().from_select(columns, rows))


def downgrade() -> None:
    op.drop_table(INFERENCE_LOG)
    op.drop_index("ix_queue_items_due", table_name="queue_items")
    op.drop_table("queue_items")
