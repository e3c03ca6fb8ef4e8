"""Authentication state every worker of a server shares: failed sign-ins (the rate limit counts
them across workers) and the credentials generation (bumped by every change to users, tokens or
grants, so each worker drops what it cached at once).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
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
        "auth_signin_failures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        **args,
    )
    op.create_index("ix_auth_signin_failures_key_at", "auth_signin_failures", ["key", "at"])
    state = op.create_table(
        "auth_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        **args,
    )
    op.bulk_insert(state, [{"name": "generation", "value": 0}])


def downgrade() -> None:
    op.drop_table("auth_state")
    op.drop_table("auth_signin_failures")
