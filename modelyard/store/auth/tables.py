"""The auth domain's tables: users, API tokens, per-resource grants and the append-only audit log
(created by migration 0007_auth); failed sign-ins and the credentials generation (0008)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, BigId, metadata

users = Table(
    "auth_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(256), nullable=False, unique=True),
    Column("password_hash", String(512), nullable=True),  # None: signs in through OIDC only
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("source", String(32), nullable=False, default="password"),
    Column("created_at", BigInteger, nullable=False),
    **MYSQL_TABLE_ARGS,
)

tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the secret
    Column("prefix", String(16), nullable=False),  # the first characters, to recognise a token
    Column("scopes", String(512), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    UniqueConstraint("user_id", "name", name="uq_auth_tokens_user_name"),
    **MYSQL_TABLE_ARGS,
)

grants = Table(
    "auth_grants",
    metadata,
    Column("user_id", BigInteger, ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),  # experiment, registered_model, feature_table, job
    Column("resource_id", String(256), primary_key=True),
    Column("permission", String(32), nullable=False),
    Index("ix_auth_grants_resource", "kind", "resource_id"),
    **MYSQL_TABLE_ARGS,
)

audit = Table(
    "auth_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("username", String(256), nullable=True),
    Column("method", String(32), nullable=False),  # how the actor signed in: password, token, session ...
    Column("action", String(512), nullable=False),  # "POST /api/2.0/mlflow/runs/create", "sign-in" ...
    Column("resource_kind", String(32), nullable=True),
    Column("resource_id", String(512), nullable=True),
    Column("status", Integer, nullable=False),
    Column("address", String(64), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_auth_audit_user_time", "username", "timestamp"),
    Index("ix_auth_audit_resource", "resource_kind", "resource_id"),
    **MYSQL_TABLE_ARGS,
)

# Failed sign-ins, one row per failure and key ("user:<name>" / "addr:<address>"), counted within
# the window by every worker (created by migration 0008_auth2_shared_state).
signin_failures = Table(
    "auth_signin_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(320), nullable=False),
    Column("at", BigInteger, nullable=False),  # ms
    Index("ix_auth_signin_failures_key_at", "key", "at"),
    **MYSQL_TABLE_ARGS,
)

# Named counters; "generation" is bumped by every change to users, tokens or grants, and a worker
# that sees it move drops the credentials and grants it cached.
state = Table(
    "auth_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
    **MYSQL_TABLE_ARGS,
)
