"""The scoring server's inference log table (``modelyard serve --inference-log <database URI>``).

Created by migration 0004. Before it, the scoring server made the same table with ``create_all``:
the migration adopts such a table as it is (same columns, same index names), so a database that
already holds a log upgrades without losing a row.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table, Text

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, metadata

TABLE = "modelyard_inference_log"

inference_log = Table(
    TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128)),
    Column("time", DateTime(timezone=True)),
    Column("model", String(256)),
    Column("version", String(128)),
    Column("status", Integer),
    Column("latency_ms", Float),
    Column("content_type", String(128)),
    Column("request", Text),
    Column("response", Text),
    Index("ix_modelyard_inference_log_request_id", "request_id"),
    Index("ix_modelyard_inference_log_time", "time"),
    **MYSQL_TABLE_ARGS,
)
