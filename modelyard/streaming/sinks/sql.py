"""SQL table sink (PostgreSQL, MariaDB/MySQL, SQLite) through SQLAlchemy: one row per event, once.

``postgresql://user@host:5432/db?table=predictions`` (also ``mysql://``, ``mariadb://``, ``sqlite:///path.db``)

Columns: ``event_id`` (the primary key), ``model_version``, ``prediction``, the passthrough fields,
``scored_at`` (UTC). The table is created at the first write if missing (``prediction`` numeric when
the model returns numbers, else JSON text; passthrough columns typed by their first value). A batch is
one transaction of ``INSERT ... ON CONFLICT (event_id) DO NOTHING`` (``ON DUPLICATE KEY UPDATE
event_id = event_id`` on MariaDB): the first prediction stored for an event is kept, so a redelivered
event, even one scored by a newer version after an alias moved, adds nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson

from modelyard.exceptions import InvalidParameterValue
from modelyard.streaming.base import BaseSink
from modelyard.streaming.uris import EndUri

DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "mysql": "mysql+pymysql",
           "mariadb": "mysql+pymysql"}
RESERVED = ("event_id", "model_version", "prediction", "scored_at")


class SqlTableSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.table_name = end.option("table", required=True)
        scheme, rest = end.base.split(":", 1)
        self.url = DRIVERS.get(scheme, scheme) + ":" + rest
        self.engine = None
        self.table = None

    async def start(self) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(self.url, pool_pre_ping=True)

    async def write(self, records: Sequence[dict]) -> None:
        await asyncio.to_thread(self._write, records)

    def _write(self, records: Sequence[dict]) -> None:
        if self.table is None:
            self.table = self._table(records[0])
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        columns = set(self.table.c.keys())
        rows = []
        for record in records:
            row = {k: _cell(v, self.table.c[k].type) for k, v in record.items() if k in columns}
            row["scored_at"] = now
            rows.append(row)
        with self.engine.begin() as conn:
            conn.execute(self._insert(), rows)

    def _insert(self) -> Any:
        backend = self.engine.dialect.name
        if backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert

            return insert(self.table).on_conflict_do_nothing(index_elements=["event_id"])
        if backend == "sqlite":
            from sqlalchemy.dialects.sqlite import insert

            return insert(self.table).on_conflict_do_nothing(index_elements=["event_id"])
        if backend in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert

            stmt = insert(self.table)
            return stmt.on_duplicate_key_update(event_id=stmt.inserted.event_id)
        raise InvalidParameterValue(f"The SQL sink supports PostgreSQL, MariaDB/MySQL and SQLite, not {backend!r}")

    def _table(self, sample: dict) -> Any:
        from sqlalchemy import Column, DateTime, MetaData, String, Table, inspect

        metadata = MetaData()
        if inspect(self.engine).has_table(self.table_name):
            return Table(self.table_name, metadata, autoload_with=self.engine)
        columns = [
            Column("event_id", String(255), primary_key=True),
            Column("model_version", String(64)),
            Column("prediction", _type(sample.get("prediction"))),
        ]
        columns += [Column(k, _type(v)) for k, v in sample.items() if k not in RESERVED]
        columns.append(Column("scored_at", DateTime()))
        table = Table(self.table_name, metadata, *columns)
        metadata.create_all(self.engine, checkfirst=True)
        return table

    async def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def _type(value: Any) -> Any:
    from sqlalchemy import BigInteger, Boolean, Float, Text

    if isinstance(value, bool):
        return Boolean()
    if isinstance(value, int):
        return BigInteger()
    if isinstance(value, float):
        return Float()
    return Text()


def _cell(value: Any, kind: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        if type(kind).__name__ == "Text" and not isinstance(value, str) and value is not None:
            return orjson.dumps(value).decode()
        return value
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
