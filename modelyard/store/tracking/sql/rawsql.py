"""The store's hot statements as SQL text run on the DB-API cursor, compiled once per dialect.

Building a SQLAlchemy Core statement and executing it costs 0.1-0.3 ms of Python per
statement (construction, cache key, parameter processing): more than SQLite needs to run it,
and the larger part of a ``log_metric`` call. The few statements every logging call runs
(find the run, read the latest points, insert points, upsert the latest) are therefore kept
here as text, with identifiers quoted by the dialect and ``?`` marks turned into the
driver's. Only SQLite and PostgreSQL take the write statements (both have ``ON CONFLICT ... DO UPDATE``);
MySQL/MariaDB keep the Core statements of store.py. The page reads of a search (``page_*``: the
params, tags, latest metrics, inputs and models of a page of runs, ``load_page``) are plain
SELECTs and run on all three. Driver errors are wrapped as SQLAlchemy's ``DBAPIError`` so the
store translates them as usual.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

DIALECTS = ("sqlite", "postgresql")
IN_CHUNK = 200  # marks per IN (...) list
PAGE_CHUNK = 1000  # ids per IN (...) list of a page read

_SQL: dict[tuple[str, str], str] = {}

_TEMPLATES = {
    "run": "SELECT id, lifecycle_stage FROM runs WHERE run_uuid = ?",
    "latest": "SELECT {key}, {value}, {ts}, {step}, is_nan FROM latest_metrics WHERE run_id = ? AND {key} IN ({marks})",
    "insert_metrics": "INSERT INTO metrics (run_id, {key}, {value}, {ts}, {step}, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
    "upsert_latest": "INSERT INTO latest_metrics (run_id, {key}, {value}, {ts}, {step}, is_nan) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, {key}) DO UPDATE SET {value} = excluded.{value}, "
    "{ts} = excluded.{ts}, {step} = excluded.{step}, is_nan = excluded.is_nan",
}
# A run's creation and its batches (``Database.write_raw``): SQLite and PostgreSQL.
_TEMPLATES.update(
    experiment="SELECT experiment_id, lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?",
    insert_run="INSERT INTO runs (run_uuid, experiment_id, {name}, user_id, {status}, start_time, end_time, "
    "lifecycle_stage, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    insert_params="INSERT INTO params (run_id, {key}, {value}) VALUES (?, ?, ?)",
    params_in="SELECT {key}, {value} FROM params WHERE run_id = ? AND {key} IN ({marks})",
    upsert_tags="INSERT INTO tags (run_id, {key}, {value}) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id, {key}) DO UPDATE SET {value} = excluded.{value}",
    set_run_name="UPDATE runs SET {name} = ? WHERE id = ?",
    run_full="SELECT id, run_uuid, experiment_id, {name}, user_id, {status}, start_time, end_time, "
    "lifecycle_stage, artifact_uri FROM runs WHERE run_uuid = ?",
    stored_points="SELECT {key}, {step}, {timestamp}, {value}, is_nan FROM metrics "
    "WHERE run_id = ? AND {key} IN ({marks}) AND {step} BETWEEN ? AND ?",
)
_RUN_UPDATE_COLUMNS = ("status", "end_time", "name")

# The children of a page of runs (ids in the IN list): one statement per table for the whole page.
_TEMPLATES.update(
    page_params="SELECT run_id, {key}, {value} FROM params WHERE run_id IN ({marks})",
    page_tags="SELECT run_id, {key}, {value} FROM tags WHERE run_id IN ({marks})",
    page_latest="SELECT run_id, {key}, {value}, {timestamp}, {step}, is_nan FROM latest_metrics "
    "WHERE run_id IN ({marks})",
    page_inputs="SELECT ri.id, ri.run_id, d.{name}, d.{digest}, d.{source_type}, d.{source}, d.{schema}, "
    "d.{profile} FROM run_inputs ri JOIN datasets d ON d.id = ri.dataset_id WHERE ri.run_id IN ({marks}) "
    "ORDER BY ri.id",
    page_input_tags="SELECT input_id, {key}, {value} FROM input_tags WHERE input_id IN ({marks})",
    page_model_inputs="SELECT ri.run_id, lm.model_id FROM run_model_inputs ri JOIN logged_models lm "
    "ON lm.id = ri.model_id WHERE ri.run_id IN ({marks}) ORDER BY ri.run_id, lm.id",
    page_model_outputs="SELECT ro.run_id, lm.model_id, ro.{step} FROM run_outputs ro JOIN logged_models lm "
    "ON lm.id = ro.model_id WHERE ro.run_id IN ({marks}) ORDER BY ro.run_id, lm.id, ro.{step}",
)
# PostgreSQL: the params, tags, latest metrics, model inputs, model outputs and dataset inputs of a
# page in one statement (a kind per row: 0 param, 1 tag, 2 latest metric, 3 model input, 4 model
# output, 5 dataset input), ids as one array parameter. Model inputs/outputs carry
# ``logged_models.id`` last (their order), dataset inputs ``run_inputs.id`` (theirs) and the
# dataset's name, digest, source type, source, schema and profile as one JSON array.
#
# The params, tags and latest metrics (most of the rows) are read run by run from their primary key
# (``run_id``, ``key``): ``LATERAL (... OFFSET 0)`` keeps each a per-run index probe. Given the ids
# as ``run_id = ANY(...)``, PostgreSQL costs a page of 1,000 runs out of 10,000 as three sequential
# scans (or, as a join, three hashes of the whole tables): 17-18 ms against 13 ms for the probes
# (psql, bench/tracking_server.py's store); for 100 runs both take 2 ms.
_PAGE_CHILDREN = (
    "SELECT 0 AS kind, c.run_id, c.{key}::text, c.{value}::text, NULL::float8, NULL::int8, NULL::int8,"
    " NULL::bool, NULL::int8 FROM unnest(?::int8[]) AS page(id) CROSS JOIN LATERAL"
    " (SELECT run_id, {key}, {value} FROM params WHERE run_id = page.id OFFSET 0) c"
    " UNION ALL SELECT 1, c.run_id, c.{key}, c.{value}, NULL, NULL, NULL, NULL, NULL"
    " FROM unnest(?::int8[]) AS page(id) CROSS JOIN LATERAL"
    " (SELECT run_id, {key}, {value} FROM tags WHERE run_id = page.id OFFSET 0) c"
    " UNION ALL SELECT 2, c.run_id, c.{key}, NULL, c.{value}, c.{ts}, c.{step}, c.is_nan, NULL"
    " FROM unnest(?::int8[]) AS page(id) CROSS JOIN LATERAL (SELECT run_id, {key}, {value}, {ts}, {step},"
    " is_nan FROM latest_metrics WHERE run_id = page.id OFFSET 0) c"
    " UNION ALL SELECT 3, ri.run_id, lm.model_id, NULL, NULL, NULL, NULL, NULL, lm.id FROM run_model_inputs ri"
    " JOIN logged_models lm ON lm.id = ri.model_id WHERE ri.run_id = ANY(?::int8[])"
    " UNION ALL SELECT 4, ro.run_id, lm.model_id, NULL, NULL, NULL, ro.{step}, NULL, lm.id FROM run_outputs ro"
    " JOIN logged_models lm ON lm.id = ro.model_id WHERE ro.run_id = ANY(?::int8[])"
    " UNION ALL SELECT 5, ri.run_id, NULL, json_build_array(d.{name}, d.{digest}, d.{source_type}, d.{source},"
    " d.{schema}, d.{profile})::text, NULL, NULL, NULL, NULL, ri.id FROM run_inputs ri"
    " JOIN datasets d ON d.id = ri.dataset_id WHERE ri.run_id = ANY(?::int8[])"
)
_TEMPLATES["page_children"] = _PAGE_CHILDREN
# PostgreSQL: one point that is also the key's new latest (a log_metric call), in one statement.
# The INSERT in the WITH clause runs once whether or not it is referenced.
_TEMPLATES["insert_one_upsert_latest"] = (
    "WITH point AS (" + _TEMPLATES["insert_metrics"] + ") " + _TEMPLATES["upsert_latest"]
)
# Held until commit, so concurrent writes to one run see each other (SQLite's BEGIN IMMEDIATE
# already serializes writers): the lock store.py takes with ``with_for_update(key_share=True)``.
_ROW_LOCK = {"postgresql": " FOR NO KEY UPDATE", "sqlite": ""}


def enabled(conn: Connection) -> bool:
    return conn.dialect.name in DIALECTS


def sql(conn: Connection, name: str, marks: int = 0) -> str:
    """The statement's text for this connection's dialect (``marks``: length of its IN list)."""
    dialect = conn.dialect.name
    key = (dialect, f"{name}/{marks}")
    text = _SQL.get(key)
    if text is None:
        text = _TEMPLATES[name].format_map(_Quoted(conn.dialect.identifier_preparer.quote, marks))
        if conn.dialect.paramstyle != "qmark":
            text = text.replace("?", "%s")
        _SQL[key] = text
    return text


class _Quoted(dict):
    """``{word}`` in a template: the identifier as the dialect quotes it; ``{marks}``: the IN list."""

    def __init__(self, quote, marks: int) -> None:
        super().__init__(ts=quote("timestamp"), marks=", ".join("?" * marks))
        self.quote = quote

    def __missing__(self, word: str) -> str:
        return self.quote(word)


def _bucket(n: int) -> int:
    """The IN-list length a page read of ``n`` ids uses: a power of two (or PAGE_CHUNK), so that a
    handful of statement texts serve every page size (the list is padded by repeating an id)."""
    return min(PAGE_CHUNK, 1 << (n - 1).bit_length()) if n > 1 else 1


def page_rows(conn: Connection, name: str, ids: Sequence[int]) -> list[tuple]:
    """The rows of the page read ``name`` (a ``page_*`` template) for these ids, as driver tuples."""
    out: list[tuple] = []
    if conn.dialect.name == "postgresql":
        # one array parameter: the statement's text is the same for every page (psycopg prepares it
        # after a few calls), and the driver need not rewrite hundreds of marks per call
        text = _any_sql(conn, name)
        array = "{" + ",".join(map(str, ids)) + "}"  # an int8[] literal: cheaper to send than a list
        with cursor(conn) as cur:
            cur.execute(text, [array] * text.count("%s"))
            return cur.fetchall()
    with cursor(conn) as cur:
        for i in range(0, len(ids), PAGE_CHUNK):
            part = list(ids[i : i + PAGE_CHUNK])
            marks = _bucket(len(part))
            part += part[-1:] * (marks - len(part))  # a repeated id selects nothing twice
            cur.execute(sql(conn, name, marks), part)
            out += cur.fetchall()
    return out


def _any_sql(conn: Connection, name: str) -> str:
    """PostgreSQL's text of a ``page_*`` read whose ``IN (...)`` list is ``= ANY(array)``."""
    key = ("postgresql", f"{name}/any")
    text = _SQL.get(key)
    if text is None:
        template = _TEMPLATES[name].replace("IN ({marks})", "= ANY(?::int8[])")
        text = template.format_map(_Quoted(conn.dialect.identifier_preparer.quote, 0)).replace("?", "%s")
        _SQL[key] = text
    return text


def page_children(conn: Connection, ids: Sequence[int]) -> list[tuple]:
    """PostgreSQL: (kind, run_id, key, text value, number, timestamp, step, is_nan, row id) of the
    params (kind 0), tags (1), latest metrics (2), model inputs (3) and outputs (4) and dataset
    inputs (5: the dataset as a JSON array in the text value) of these runs, in one statement."""
    return page_rows(conn, "page_children", ids)


@contextmanager
def cursor(conn: Connection) -> Iterator[Any]:
    """A DB-API cursor inside the connection's transaction; driver errors become DBAPIError."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cur = conn.connection.cursor()
    try:
        yield cur
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cur.close()


def run_row(conn: Connection, run_uuid: str, *, lock: bool) -> tuple | None:
    """``(id, lifecycle_stage)`` of the run, or None."""
    text = sql(conn, "run")
    if lock:
        text += _ROW_LOCK[conn.dialect.name]
    with cursor(conn) as cur:
        cur.execute(text, (run_uuid,))
        return cur.fetchone()


def latest_points(conn: Connection, rid: int, keys: Sequence[str]) -> dict[str, dict]:
    """The stored latest point of each key: ``{key: {value, timestamp, step, is_nan}}``."""
    out: dict[str, dict] = {}
    with cursor(conn) as cur:
        for i in range(0, len(keys), IN_CHUNK):
            part = keys[i : i + IN_CHUNK]
            cur.execute(sql(conn, "latest", len(part)), (rid, *part))
            for key, value, ts, step, is_nan in cur.fetchall():
                out[key] = {"value": value, "timestamp": ts, "step": step, "is_nan": bool(is_nan)}
    return out


def insert_points(conn: Connection, rid: int, rows: Sequence[dict], latest: Sequence[dict]) -> None:
    """Insert metric rows and upsert the changed latest points (both lists of row dicts)."""
    with cursor(conn) as cur:
        points = [(rid, r["key"], r["value"], r["timestamp"], r["step"], r["is_nan"]) for r in rows]
        if len(points) == 1 and len(latest) == 1 and conn.dialect.name == "postgresql":
            # the point is the latest (``latest`` holds rows of ``rows``): one round trip
            cur.execute(sql(conn, "insert_one_upsert_latest"), points[0] * 2)
            return
        if len(points) == 1:
            cur.execute(sql(conn, "insert_metrics"), points[0])
        else:
            cur.executemany(sql(conn, "insert_metrics"), points)
        newest = [(rid, r["key"], r["value"], r["timestamp"], r["step"], r["is_nan"]) for r in latest]
        if len(newest) == 1:
            cur.execute(sql(conn, "upsert_latest"), newest[0])
        elif newest:
            cur.executemany(sql(conn, "upsert_latest"), newest)


def experiment_row(conn: Connection, experiment_id: int) -> tuple | None:
    """``(experiment_id, lifecycle_stage, artifact_location)``, or None."""
    with cursor(conn) as cur:
        cur.execute(sql(conn, "experiment"), (experiment_id,))
        return cur.fetchone()


def insert_run(conn: Connection, values: Sequence, tags: dict[str, str]) -> int:
    """Insert a run (values in ``insert_run``'s column order) and its tags; returns its ``runs.id``."""
    postgres = conn.dialect.name == "postgresql"
    with cursor(conn) as cur:
        cur.execute(sql(conn, "insert_run") + (" RETURNING id" if postgres else ""), values)
        rid = cur.fetchone()[0] if postgres else cur.lastrowid
        if tags:
            cur.executemany(sql(conn, "upsert_tags"), [(rid, k, v) for k, v in tags.items()])
    return rid


def stored_params(conn: Connection, rid: int, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    with cursor(conn) as cur:
        for i in range(0, len(keys), IN_CHUNK):
            part = keys[i : i + IN_CHUNK]
            cur.execute(sql(conn, "params_in", len(part)), (rid, *part))
            out.update(cur.fetchall())
    return out


def insert_params(conn: Connection, rid: int, rows: Sequence[tuple[str, str]]) -> None:
    with cursor(conn) as cur:
        cur.executemany(sql(conn, "insert_params"), [(rid, k, v) for k, v in rows])


def upsert_tags(conn: Connection, rid: int, tags: dict[str, str], run_name: str | None) -> None:
    """Set tags; ``run_name`` (the new ``mlflow.runName``, if set) also renames the run."""
    with cursor(conn) as cur:
        rows = [(rid, k, v) for k, v in tags.items()]
        if len(rows) == 1:
            cur.execute(sql(conn, "upsert_tags"), rows[0])
        else:
            cur.executemany(sql(conn, "upsert_tags"), rows)
        if run_name is not None:
            cur.execute(sql(conn, "set_run_name"), (run_name, rid))


def run_full_row(conn: Connection, run_uuid: str, *, lock: bool) -> tuple | None:
    """The run's row in ``hydrate.RUN_COLUMNS`` order, or None."""
    text = sql(conn, "run_full")
    if lock:
        text += _ROW_LOCK[conn.dialect.name]
    with cursor(conn) as cur:
        cur.execute(text, (run_uuid,))
        return cur.fetchone()


def update_run(conn: Connection, rid: int, values: dict) -> None:
    """Set some of status, end_time and name of the run ``rid``."""
    columns = [c for c in _RUN_UPDATE_COLUMNS if c in values]
    name = "update_run/" + ",".join(columns)
    if name not in _TEMPLATES:
        _TEMPLATES[name] = "UPDATE runs SET " + ", ".join(f"{{{c}}} = ?" for c in columns) + " WHERE id = ?"
    with cursor(conn) as cur:
        cur.execute(sql(conn, name), (*(values[c] for c in columns), rid))


def stored_points(conn: Connection, rid: int, keys: Sequence[str], first: int, last: int) -> list[tuple]:
    """``(key, step, timestamp, value, is_nan)`` of the run's points of these keys with steps in
    [first, last] (a range on the (run_id, key, step) index)."""
    out: list[tuple] = []
    with cursor(conn) as cur:
        for i in range(0, len(keys), IN_CHUNK):
            part = keys[i : i + IN_CHUNK]
            cur.execute(sql(conn, "stored_points", len(part)), (rid, *part, first, last))
            out += cur.fetchall()
    return out
