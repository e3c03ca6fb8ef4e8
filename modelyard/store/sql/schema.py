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
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Dialect, Float, Integer, MetaData, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

metadata = MetaData()

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

# An auto-incrementing 64-bit key: SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Long text: MySQL's TEXT stops at 64 KiB.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# asdecimal=False: MySQL DOUBLE would otherwise return Decimals rounded to 10 decimal places.
Double = Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


class _desc_nulls_last(FunctionElement[Any]):
    """``column DESC`` with NULLs after every value: SQLite and MySQL sort NULL below every value
    already; PostgreSQL, which sorts it above, says ``NULLS LAST``. One plain sort key (unlike a
    ``CASE`` null rank), so an index declared with it (in ORDER BY and in CREATE INDEX alike)
    serves the order."""

    name = "desc_nulls_last"
    inherit_cache = True


@compiles(_desc_nulls_last)
def _compile_desc_nulls_last(element: _desc_nulls_last, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses.clauses[0], **kw) + " DESC"


@compiles(_desc_nulls_last, "postgresql")
def _compile_desc_nulls_last_pg(element: _desc_nulls_last, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses.clauses[0], **kw) + " DESC NULLS LAST"


def desc_nulls_last(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` descending, NULLs last, on every dialect (an ORDER BY term or an index column)."""
    return _desc_nulls_last(column)  # type: ignore[return-value]


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


def built_on(item: Any, dialect: Dialect) -> bool:
    """Whether the migrations build ``item`` (an index or constraint on ``metadata``) on ``dialect``:
    False for one declared for other databases only (``ddl_if``, as ``metrics``' SQLite primary key
    and its index elsewhere)."""
    condition = getattr(item, "_ddl_if", None)
    if condition is None:
        return True
    if condition.dialect is not None:
        names = (condition.dialect,) if isinstance(condition.dialect, str) else condition.dialect
        if dialect.name not in names:
            return False
    return condition.callable_ is None or bool(
        condition.callable_(None, item, None, state=condition.state, dialect=dialect, compiler=None)
    )


def compared_on(dialect: Dialect) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing a database on ``dialect`` with ``metadata``: what
    the database holds, and what the migrations build there (``built_on``)."""

    def include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return reflected or built_on(item, dialect)

    return include
