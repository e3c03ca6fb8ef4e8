"""Two metric indexes that answer their reads on their own (no table row per entry):

- ``ix_metrics_history`` on ``metrics (run_id, key, step, timestamp, value, is_nan)`` replaces
  ``ix_metrics_run_key_step (run_id, key, step)``. A metric's history is read in exactly this order
  (step, then timestamp, value and is_nan as tie-breakers); the index now holds every column it
  returns, so a 100,000-point history is one walk of the index: no sort, and no lookup of the table
  row behind each point (on SQLite about a third of the read).
- ``ix_latest_metrics_order`` on ``latest_metrics (key, is_nan, value, run_id)`` replaces
  ``ix_latest_metrics_key_value (key, value)``. A search ordered by a metric walks the runs' latest
  values of that key in value order, skipping NaN (``run_search``'s first band, and PostgreSQL's
  fence); with ``is_nan`` before ``value`` and ``run_id`` after it, the walk reads the index alone,
  not the row of each value to learn whether it is NaN and whose run it is.

Neither holds a long string (``key`` is 250 characters at most), so one declaration fits every
database. Building them on a large existing database takes a while (one pass over each table).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HISTORY = ["run_id", "key", "step", "timestamp", "value", "is_nan"]
ORDER = ["key", "is_nan", "value", "run_id"]


def upgrade() -> None:
    op.create_index("ix_metrics_history", "metrics", HISTORY)
    op.drop_index("ix_metrics_run_key_step", table_name="metrics")
    op.create_index("ix_latest_metrics_order", "latest_metrics", ORDER)
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")


def downgrade() -> None:
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.drop_index("ix_latest_metrics_order", table_name="latest_metrics")
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.drop_index("ix_metrics_history", table_name="metrics")
