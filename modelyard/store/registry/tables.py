"""The model registry's tables (registered models, versions, tags, aliases, promotion history,
webhooks and their delivery log) on the kernel's one MetaData; created by migration 0003.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, BigId, LongText, metadata

# -- model registry, migration 0003 -----------------------------------------------------------
# Registered models and their versions have integer surrogate keys (children refer to them, so a
# rename is one UPDATE). ``last_version`` counts versions ever created: a new version is
# last_version + 1, and deleted versions stay as tombstones (stage "Deleted_Internal"), so numbers
# are never reused. ``storage_location`` is where a version's files are (its ``source`` resolved:
# ``models:/m-<id>`` -> the logged model's artifact location). ``is_latest`` marks the newest version
# of each (model, stage), kept by the writes that change it, so that a page of models gets its
# ``latest_versions`` with one indexed lookup instead of a grouped join. ``promotion_history`` is the
# append-only audit of alias moves and stage transitions; it keeps the model's name (and id, no
# foreign key) so that it outlives the model. ``webhook_deliveries`` is the outbox the delivery
# worker drains, and afterwards the delivery log.
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("deployment_job_id", String(256), nullable=True),
    Column("last_version", BigInteger, nullable=False),
    UniqueConstraint("name", name="uq_registered_models_name"),
    Index("ix_registered_models_last_updated", "last_updated_time"),
    **MYSQL_TABLE_ARGS,
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("rm_id", BigId, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("rm_id", "key", name="pk_registered_model_tags"),
    Index("ix_registered_model_tags_key", "key"),
    **MYSQL_TABLE_ARGS,
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rm_id", BigId, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("current_stage", String(20), nullable=False),
    Column("source", Text, nullable=True),
    Column("storage_location", Text, nullable=True),
    Column("run_id", String(32), nullable=True),
    Column("run_link", Text, nullable=True),
    Column("model_id", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("status_message", String(500), nullable=True),
    Column("is_latest", Boolean(create_constraint=False), nullable=False),
    UniqueConstraint("rm_id", "version", name="uq_model_versions_rm_version"),
    Index("ix_model_versions_rm_stage_version", "rm_id", "current_stage", "version"),
    Index("ix_model_versions_rm_latest", "rm_id", "is_latest"),
    Index("ix_model_versions_last_updated", "last_updated_time"),
    Index("ix_model_versions_run_id", "run_id"),
    Index("ix_model_versions_model_id", "model_id"),
    **MYSQL_TABLE_ARGS,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("mv_id", BigId, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("mv_id", "key", name="pk_model_version_tags"),
    Index("ix_model_version_tags_key", "key"),
    **MYSQL_TABLE_ARGS,
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("rm_id", BigId, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(255), nullable=False),
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("rm_id", "alias", name="pk_registered_model_aliases"),
    **MYSQL_TABLE_ARGS,
)

promotion_history = Table(
    "promotion_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rm_id", BigInteger, nullable=False),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_version", BigInteger, nullable=True),
    Column("to_version", BigInteger, nullable=True),
    Column("from_stage", String(20), nullable=True),
    Column("to_stage", String(20), nullable=True),
    Column("reason", String(250), nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_promotion_history_rm", "rm_id", "id"),
    Index("ix_promotion_history_name", "name", "id"),
    **MYSQL_TABLE_ARGS,
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("webhook_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Column("url", String(2000), nullable=False),
    Column("events", Text, nullable=False),
    Column("secret", String(1000), nullable=True),
    Column("status", String(16), nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    UniqueConstraint("webhook_id", name="uq_webhooks_webhook_id"),
    **MYSQL_TABLE_ARGS,
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),
    Column("webhook_id", BigId, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", LongText, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_timestamp", BigInteger, nullable=False),
    Column("next_attempt_timestamp", BigInteger, nullable=True),
    Column("last_attempt_timestamp", BigInteger, nullable=True),
    Column("claimed_until", BigInteger, nullable=True),
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("is_test", Boolean(create_constraint=False), nullable=False),
    UniqueConstraint("delivery_id", name="uq_webhook_deliveries_delivery_id"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_timestamp"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    **MYSQL_TABLE_ARGS,
)
