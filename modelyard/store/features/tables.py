"""The feature catalog's tables, on the kernel's MetaData (``store/sql/schema.py``) (one database, one Alembic chain).

Created by the migration ``0005_feature_tables``; ``tests/store/test_migrations.py`` checks the
migrated schema matches these definitions. Keys and columns are JSON text: they are read whole,
never searched.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, BigId, LongText, metadata

feature_tables = Table(
    "feature_tables",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("primary_keys", Text, nullable=False),
    Column("timestamp_keys", Text, nullable=False),
    Column("columns", LongText, nullable=False),
    Column("location", String(2000), nullable=False),
    Column("current_version", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("creator", String(256), nullable=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    UniqueConstraint("name", name="uq_feature_tables_name"),
    Index("ix_feature_tables_last_updated", "last_updated_time"),
    **MYSQL_TABLE_ARGS,
)

feature_table_tags = Table(
    "feature_table_tags",
    metadata,
    Column("table_id", BigId, ForeignKey("feature_tables.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("table_id", "key", name="pk_feature_table_tags"),
    **MYSQL_TABLE_ARGS,
)

# One row per (table, online store): the Delta version last published there (incremental publish).
feature_table_online = Table(
    "feature_table_online",
    metadata,
    Column("table_id", BigId, ForeignKey("feature_tables.id", ondelete="CASCADE"), nullable=False),
    Column("online_store", String(500), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("published_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("table_id", "online_store", name="pk_feature_table_online"),
    **MYSQL_TABLE_ARGS,
)
