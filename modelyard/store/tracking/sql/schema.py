"""The tracking schema as SQLAlchemy Core tables (the queries use these).

The database itself is created and changed only by the Alembic migrations in
``migrations/versions``; ``tests/store/test_migrations.py`` checks that the migrated
schema matches these tables.

Design notes (speed at 100,000 runs and 10,000,000 metric points):
- runs have an integer surrogate key ``id``; params, tags, metrics and latest_metrics refer
  to it, so the big tables and their indexes carry 8 bytes per row instead of 32 hex chars.
- ``metrics`` is append-only history, indexed by (run_id, key, step) for history reads.
- ``latest_metrics`` holds the newest value per (run, key): search filters and ordering
  read it, never the history.
- non-finite values are never stored as such (MySQL has no infinities): NaN is stored as 0
  with ``is_nan`` set, ±inf as ±DBL_MAX; the store converts back on read.
- MySQL tables use a binary NO PAD collation so that ``=``, ``LIKE`` and unique keys are
  case-sensitive and count trailing spaces, as on SQLite and PostgreSQL. The migrations pick
  it per server (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8);
  ``MYSQL_TABLE_ARGS`` below only matters to ``metadata.create_all``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

# An auto-incrementing 64-bit key: SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Long text: MySQL's TEXT stops at 64 KiB.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# asdecimal=False: MySQL DOUBLE would otherwise return Decimals rounded to 10 decimal places.
Double = Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2000), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    UniqueConstraint("name", name="uq_experiments_name"),
    **MYSQL_TABLE_ARGS,
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id", BigId, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
    **MYSQL_TABLE_ARGS,
)

runs = Table(
    "runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column(
        "experiment_id", BigId, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(250), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("deleted_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("artifact_uri", String(2000), nullable=False),
    UniqueConstraint("run_uuid", name="uq_runs_run_uuid"),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    **MYSQL_TABLE_ARGS,
)

params = Table(
    "params",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", String(6000), nullable=False),
    PrimaryKeyConstraint("run_id", "key", name="pk_params"),
    **MYSQL_TABLE_ARGS,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", String(8000), nullable=False),
    PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
    **MYSQL_TABLE_ARGS,
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean(create_constraint=False), nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
    **MYSQL_TABLE_ARGS,
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean(create_constraint=False), nullable=False),
    PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
    Index("ix_latest_metrics_key_value", "key", "value"),
    **MYSQL_TABLE_ARGS,
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "experiment_id", BigId, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", LongText, nullable=False),
    Column("schema", LongText, nullable=True),
    Column("profile", LongText, nullable=True),
    UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_exp_name_digest"),
    **MYSQL_TABLE_ARGS,
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", BigId, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("run_id", "dataset_id", name="uq_run_inputs_run_dataset"),
    **MYSQL_TABLE_ARGS,
)

input_tags = Table(
    "input_tags",
    metadata,
    Column("input_id", BigId, nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", String(500), nullable=False),
    PrimaryKeyConstraint("input_id", "key", name="pk_input_tags"),
    ForeignKeyConstraint(["input_id"], ["run_inputs.id"], ondelete="CASCADE", name="fk_input_tags_input"),
    **MYSQL_TABLE_ARGS,
)

# -- logged models (MLflow 3), migration 0002 -----------------------------------------------
# A logged model has an integer surrogate key ``id`` (children refer to it) and its public
# ``model_id`` ("m-<32 hex>"). Soft-deleted models keep lifecycle_stage "deleted".
# ``logged_model_metrics`` holds every point logged with a model_id (run, dataset and all);
# empty strings stand for "no dataset" so that rows compare with plain ``=``.
logged_models = Table(
    "logged_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", String(64), nullable=False),
    Column(
        "experiment_id", BigId, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2000), nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("model_type", String(500), nullable=True),
    Column("source_run_id", String(32), nullable=True),
    Column("status_message", String(1000), nullable=True),
    UniqueConstraint("model_id", name="uq_logged_models_model_id"),
    Index("ix_logged_models_experiment_created", "experiment_id", "creation_timestamp_ms"),
    Index("ix_logged_models_experiment_name", "experiment_id", "name"),
    **MYSQL_TABLE_ARGS,
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", BigId, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key", name="pk_logged_model_tags"),
    **MYSQL_TABLE_ARGS,
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", BigId, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key", name="pk_logged_model_params"),
    **MYSQL_TABLE_ARGS,
)

logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean(create_constraint=False), nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("dataset_name", String(500), nullable=False),
    Column("dataset_digest", String(36), nullable=False),
    Index("ix_logged_model_metrics_model_key", "model_id", "key", "timestamp"),
    **MYSQL_TABLE_ARGS,
)

run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", BigId, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "model_id", "step", name="pk_run_outputs"),
    **MYSQL_TABLE_ARGS,
)

run_model_inputs = Table(
    "run_model_inputs",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", BigId, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("run_id", "model_id", name="pk_run_model_inputs"),
    **MYSQL_TABLE_ARGS,
)

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


# -- workflows, migration j001 (defined in modelyard.store.jobs.tables, on this metadata) -------
import modelyard.store.jobs.tables  # noqa: E402,F401
