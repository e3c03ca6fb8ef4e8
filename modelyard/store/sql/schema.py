"""The one MetaData of every domain's tables, and the column types they share.

Each domain declares its tables in its own module on ``metadata`` (``DOMAINS``); the database is
created and changed only by the one Alembic chain in ``migrations/versions``, and
``tests/store/test_migrations.py`` checks that the migrated schema equals ``full_metadata()``.
A new domain (feature tables, jobs, auth ...) is one tables module listed in ``DOMAINS`` plus one
migration file.

MySQL/MariaDB tables use a binary NO PAD collation so that ``=``, ``LIKE`` and unique keys are
case-sensitive and count trailing spaces, as on SQLite and PostgreSQL. The migrations pick it per
server (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8); ``MYSQL_TABLE_ARGS``
only matters to ``metadata.create_all``.
"""

from __future__ import annotations

import importlib

from sqlalchemy import BigInteger, Float, Integer, MetaData, Text
from sqlalchemy.dialects import mysql

metadata = MetaData()

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

# An auto-incrementing 64-bit key: SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Long text: MySQL's TEXT stops at 64 KiB.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# asdecimal=False: MySQL DOUBLE would otherwise return Decimals rounded to 10 decimal places.
Double = Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

# The modules that put tables on ``metadata``, one per domain.
DOMAINS = (
    "modelyard.store.tracking.tables",
    "modelyard.store.registry.tables",
    "modelyard.store.serving.tables",
    "modelyard.store.sql.queue",
    "modelyard.store.features.tables",
    "modelyard.store.jobs.tables",
    "modelyard.store.auth.tables",
)


def full_metadata() -> MetaData:
    """``metadata`` with every domain's tables on it (what the migrations build)."""
    for module in DOMAINS:
        importlib.import_module(module)
    return metadata
