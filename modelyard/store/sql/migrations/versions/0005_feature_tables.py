"""Feature tables: the catalog of Delta feature tables, their tags and their online publishes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
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


def _fk(name: str) -> sa.Column:
    return sa.Column(name, BigId, sa.ForeignKey("feature_tables.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    args = _mysql_table_args()
    op.create_table(
        "feature_tables",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("primary_keys", sa.Text, nullable=False),
        sa.Column("timestamp_keys", sa.Text, nullable=False),
        sa.Column("columns", LongText, nullable=False),
        sa.Column("location", sa.String(2000), nullable=False),
        sa.Column("current_version", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("creator", sa.String(256), nullable=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", name="uq_feature_tables_name"),
        **args,
    )
    op.create_index("ix_feature_tables_last_updated", "feature_tables", ["last_updated_time"])
    op.create_table(
        "feature_table_tags",
        _fk("table_id"),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", LongText, nullable=False),
        sa.PrimaryKeyConstraint("table_id", "key", name="pk_feature_table_tags"),
        **args,
    )
    op.create_table(
        "feature_table_online",
        _fk("table_id"),
        sa.Column("online_store", sa.String(500), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("published_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("table_id", "online_store", name="pk_feature_table_online"),
        **args,
    )


def downgrade() -> None:
    for table in ("feature_table_online", "feature_table_tags", "feature_tables"):
        op.drop_table(table)
