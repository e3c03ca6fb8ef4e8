"""Authentication: users, API tokens, per-resource grants and the append-only audit log.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
        "auth_users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(256), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(512), nullable=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        **args,
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(512), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("user_id", "name", name="uq_auth_tokens_user_name"),
        **args,
    )
    op.create_table(
        "auth_grants",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("resource_id", sa.String(256), primary_key=True),
        sa.Column("permission", sa.String(32), nullable=False),
        **args,
    )
    op.create_index("ix_auth_grants_resource", "auth_grants", ["kind", "resource_id"])
    op.create_table(
        "auth_audit",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("username", sa.String(256), nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("action", sa.String(512), nullable=False),
        sa.Column("resource_kind", sa.String(32), nullable=True),
        sa.Column("resource_id", sa.String(512), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        **args,
    )
    op.create_index("ix_auth_audit_user_time", "auth_audit", ["username", "timestamp"])
    op.create_index("ix_auth_audit_resource", "auth_audit", ["resource_kind", "resource_id"])


def downgrade() -> None:
    op.drop_table("auth_audit")
    op.drop_table("auth_grants")
    op.drop_table("auth_tokens")
    op.drop_table("auth_users")
