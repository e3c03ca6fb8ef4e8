"""Bulk filling of a modelyard SQLite database for bench/ui.py: the rows of
``_server_populate.SqlPopulator`` (same template run, same system tags, same generator), written
through the ``sqlite3`` module with ``executemany`` in large transactions and with the journal and
``fsync`` off while it fills (a bench database that a crash would leave half-filled is thrown away
and filled again anyway). The journal mode the store chose (WAL) is put back on ``close``.

What makes ``SqlPopulator`` slow at 100,000 runs is not SQLite: it builds a dict per row through
SQLAlchemy and, after each batch, reads the ids of every run of the experiment. Here a batch reads
the ids of its own runs only, rows are plain tuples, and a metric history is either streamed from
a generator (``insert_history``) or made by SQLite from a formula (``insert_series``).
tests/bench/test_bench_sqlite_populate.py checks both give the same rows.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RunData  # noqa: E402
from _server_populate import SqlPopulator  # noqa: E402

CACHE_KIB = 131_072  # SQLite page cache while filling
POINT = ("run_id", "key", "value", "timestamp", "step", "is_nan")  # a metric point's columns


class SqliteBulkPopulator(SqlPopulator):
    """``SqlPopulator``'s interface (``insert_runs``, ``insert_history``, ``close``) for a
    modelyard SQLite database. The template and the system tags are read as it reads them."""

    def __init__(self, url: str, template_uuid: str, user_tag_keys: set[str]) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"SqliteBulkPopulator fills SQLite databases only, not {url!r}")
        super().__init__(url, template_uuid, user_tag_keys)
        if not self.int_keys:
            raise ValueError("SqliteBulkPopulator fills modelyard's schema (runs.id keys) only")
        self.engine.dispose()  # the journal mode can change only with no other connection open
        self.conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        self.journal_mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            f"cache_size=-{CACHE_KIB}",
            "temp_store=MEMORY",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.columns = {name: [c.name for c in self.t[name].c] for name in ("runs", *self.CHILD_TABLES)}

    def _insert(self, name: str, columns: list[str], rows: Iterable[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        quoted = ", ".join(f'"{c}"' for c in columns)
        self.conn.executemany(f"INSERT INTO {name} ({quoted}) VALUES ({marks})", rows)

    def _child_rows(self, name: str, given: tuple[str, ...], rows: Iterable[tuple]) -> Iterable[tuple]:
        """Rows in the table's column order from tuples of the ``given`` columns; the others from
        the template run's row, as ``SqlPopulator._rows`` fills them."""
        columns, template = self.columns[name], self.child_templates.get(name, {})
        if tuple(columns) == given:
            return rows
        where = {c: i for i, c in enumerate(given)}
        return (tuple(r[where[c]] if c in where else template.get(c) for c in columns) for r in rows)

    def insert_runs(self, runs: list[RunData], start_time_of: Callable[[int], int]) -> None:
        columns = [c for c in self.columns["runs"] if c != "id"]
        rows = []
        for rd in runs:
            row = self.run_row(rd, start_time_of(rd.index), columns)
            rows.append(tuple(row[c] for c in columns))
        c = self.conn
        c.execute("BEGIN")
        try:
            before = c.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
            self._insert("runs", columns, rows)
            ids = dict(c.execute("SELECT run_uuid, id FROM runs WHERE id > ?", (before,)))
            params, tags, points = [], [], []
            for rd in runs:
                fk, st = ids[rd.run_uuid], start_time_of(rd.index)
                params += [(fk, k, v) for k, v in rd.params.items()]
                all_tags = {**self.system_tags, **rd.tags}
                if "mlflow.runName" in all_tags:
                    all_tags["mlflow.runName"] = rd.name
                tags += [(fk, k, v) for k, v in all_tags.items()]
                points += [(fk, k, v, st, 0, False) for k, v in rd.metrics.items()]
            kv = ("run_id", "key", "value")
            self._insert("params", self.columns["params"], self._child_rows("params", kv, params))
            self._insert("tags", self.columns["tags"], self._child_rows("tags", kv, tags))
            for name in ("metrics", "latest_metrics"):
                self._insert(name, self.columns[name], self._child_rows(name, POINT, points))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def insert_history(self, run_uuid: str, key: str, points: Iterable[tuple[float, int, int]]) -> None:
        """Append (value, timestamp, step) points of one metric (any iterable: a generator streams)
        and update its latest value, as ``SqlPopulator.insert_history`` does."""
        c = self.conn
        c.execute("BEGIN")
        try:
            (fk,) = c.execute("SELECT id FROM runs WHERE run_uuid = ?", (run_uuid,)).fetchone()
            newest: list = []  # (step, timestamp, value) of the point with the highest step, then time

            def rows():
                best = None
                for v, ts, s in points:
                    if best is None or (s, ts) > best[:2]:
                        best = (s, ts, v)
                    yield (fk, key, v, ts, s, False)
                if best is not None:
                    newest.append(best)

            self._insert("metrics", self.columns["metrics"], self._child_rows("metrics", POINT, rows()))
            if newest:
                s, ts, v = newest[0]
                self._set_latest(fk, key, v, ts, s)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def insert_series(
        self, run_uuid: str, key: str, start: int, stop: int, value_sql: str, time0: int
    ) -> None:
        """Append the points of steps ``start`` .. ``stop - 1`` of one metric, made by SQLite itself
        (no Python per point): value ``value_sql`` (an SQL expression of ``step``), timestamp
        ``time0 + step``; then update its latest value as ``insert_history`` does. What
        ``insert_history`` would write given the same points computed in Python."""
        if tuple(self.columns["metrics"]) != POINT:
            raise ValueError(f"insert_series writes the columns {POINT}, not {self.columns['metrics']}")
        c = self.conn
        c.execute("BEGIN")
        try:
            (fk,) = c.execute("SELECT id FROM runs WHERE run_uuid = ?", (run_uuid,)).fetchone()
            c.execute(
                "WITH RECURSIVE steps(step) AS (SELECT ? UNION ALL SELECT step + 1 FROM steps WHERE step < ?) "
                "INSERT INTO metrics (run_id, key, value, timestamp, step, is_nan) "
                f"SELECT ?, ?, {value_sql}, ? + step, step, 0 FROM steps",
                (start, stop - 1, fk, key, time0),
            )
            newest = c.execute(
                "SELECT value, timestamp, step FROM metrics WHERE run_id = ? AND key = ? AND step BETWEEN ? AND ? "
                "ORDER BY step DESC, timestamp DESC LIMIT 1",
                (fk, key, start, stop - 1),
            ).fetchone()
            if newest is not None:
                self._set_latest(fk, key, *newest)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _set_latest(self, fk: int, key: str, v: float, ts: int, s: int) -> None:
        """The latest value of a metric becomes this point unless it is of a later step."""
        c = self.conn
        done = c.execute(
            "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = ? "
            "WHERE run_id = ? AND key = ? AND step <= ?",
            (v, ts, s, False, fk, key, s),
        )
        exists = c.execute("SELECT 1 FROM latest_metrics WHERE run_id = ? AND key = ?", (fk, key))
        if done.rowcount == 0 and exists.fetchone() is None:
            rows = self._child_rows("latest_metrics", POINT, [(fk, key, v, ts, s, False)])
            self._insert("latest_metrics", self.columns["latest_metrics"], rows)

    def close(self) -> None:
        self.conn.execute(f"PRAGMA journal_mode={self.journal_mode}")
        self.conn.close()
        super().close()
