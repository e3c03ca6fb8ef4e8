"""The tracking tables (experiments, runs, params, tags, metrics, datasets, inputs, logged models)
on the kernel's one MetaData (``modelyard.store.sql.schema``); the queries use these.

The database itself is created and changed only by the Alembic migrations in
``modelyard/store/sql/migrations/versions``; ``tests/store/test_migrations.py`` checks that the migrated
schema matches these tables.

Design notes (speed at 100,000 runs and 10,000,000 metric points):
- runs have an integer surrogate key ``id``; params, tags, metrics and latest_metrics refer
  to it, so the big tables and their indexes carry 8 bytes per row instead of 32 hex chars.
- ``metrics`` is append-only history, indexed by (run_id, key, step, timestamp, value, is_nan):
  a history is read from the index alone, in its order. On SQLite those six columns are the
  primary key of a ``WITHOUT ROWID`` table instead (revision 0014): the points are stored once.
  It has no foreign key to ``runs`` (revision 0012): the per-point check cost more than the
  insert itself.
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
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelyard.store.sql.schema import MYSQL_TABLE_ARGS, BigId, Double, LongText, desc_nulls_last, metadata

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
    **MYSQL_TABLE_ARGS,
)
# The runs page's default order, an index walk (revision 0009): start_time DESC with NULLs last
# (PostgreSQL says NULLS LAST; SQLite and MySQL put NULL last in a descending order already).
# The migration writes the index per dialect; from this declaration ``create_all`` makes it right
# on SQLite and PostgreSQL (MySQL would wrap the expression as a functional key part).
Index(
    "ix_runs_experiment_start_uuid",
    runs.c.experiment_id,
    desc_nulls_last(runs.c.start_time),
    runs.c.run_uuid,
    runs.c.lifecycle_stage,  # active runs counted from the index alone
)

params = Table(
    "params",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", String(6000), nullable=False),
    PrimaryKeyConstraint("run_id", "key", name="pk_params"),
    sqlite_with_rowid=False,  # clustered on (run_id, key): revision 0013
    **MYSQL_TABLE_ARGS,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", String(8000), nullable=False),
    PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
    sqlite_with_rowid=False,  # clustered on (run_id, key): revision 0013
    **MYSQL_TABLE_ARGS,
)
# Searches on a tag's value (a run's children: ``tags.mlflow.parentRunId = '<id>'``), revision 0010:
# a hash index on PostgreSQL (a b-tree entry cannot hold an 8,000-character value), the first 255
# characters on MySQL/MariaDB.
Index("ix_tags_value", tags.c.value, postgresql_using="hash", mysql_length={"value": 255})

# a metric history's read order: every column of ``metrics``
METRIC_HISTORY_ORDER = ("run_id", "key", "step", "timestamp", "value", "is_nan")


def not_sqlite(ddl, target, bind, *, dialect, **kw) -> bool:
    """``ddl_if``: on every database but SQLite."""
    return dialect.name != "sqlite"


metrics = Table(
    "metrics",
    metadata,
    # no foreign key (revision 0012): checked per point, it cost more than the insert; every write
    # of points locks and checks its run first, and runs are never deleted from the table
    Column("run_id", BigId, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean(create_constraint=False), nullable=False),
    # SQLite: the points clustered in a history's read order (revision 0014), one b-tree
    PrimaryKeyConstraint(*METRIC_HISTORY_ORDER, name="pk_metrics").ddl_if(dialect="sqlite"),
    # elsewhere: a history's read order, holding every column it returns (revision 0011)
    Index("ix_metrics_history", *METRIC_HISTORY_ORDER).ddl_if(callable_=not_sqlite),
    sqlite_with_rowid=False,
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
    # a metric's values in order, NaN apart, with their runs: search's metric order (revision 0011)
    Index("ix_latest_metrics_order", "key", "is_nan", "value", "run_id"),
    sqlite_with_rowid=False,  # clustered on (run_id, key): revision 0013
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
