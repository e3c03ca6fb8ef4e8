"""A ``read()``/``write()`` pair over one engine for the jobs store (the shape of the SQL
kernel's ``Database``), with SQLite writers queued as the tracking store queues them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection, Engine

from modelyard.store.tracking.sql.engine import writer, writer_queue


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self._queue = writer_queue(engine)
        self.dialect = engine.dialect.name

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with self._queue.hold() if self._queue else contextlib.nullcontext(), self._writer.begin() as conn:
            yield conn

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()
        self.engine.dispose()
