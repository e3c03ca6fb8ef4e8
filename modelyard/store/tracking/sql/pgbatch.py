"""A whole ``log_batch`` on PostgreSQL in one round trip.

The general path (store.py) runs ``BEGIN``, the run's row lock, a read of the latest points,
the inserts, the upserts and ``COMMIT``: six or seven round trips, each a wake-up of the database's
process and of ours, which on a busy machine costs more than the work. Here the batch goes as one
query of two statements on a connection in autocommit mode, which PostgreSQL runs as one implicit
transaction (all or nothing):

1. ``SELECT lifecycle_stage ... FOR NO KEY UPDATE``: the run's row lock, as the general path takes
   it, so concurrent writes to one run see each other; its answer says why nothing was written
   (no such run, a deleted run);
2. one statement whose CTEs check the run is active and no param changes value, then insert the
   params, upsert the tags (and the run's name), insert the points that are not stored already and
   upsert each key's latest point where the new one is later (``step``, ``timestamp``, value; NaN
   the smallest) — the rules of store.py, evaluated by the database. Under READ COMMITTED the
   second statement takes its snapshot after the lock of the first is granted, so the checks see
   every write committed before. It answers the params that would change, if any (then nothing is
   written).

Values travel as array literals (``unnest``), a handful of parameters whatever the batch's size.
Both statements are prepared once per connection (``PREPARE``, planned once) and executed by name,
bound on the client (``psycopg.ClientCursor``): two statements in one query are only possible that
way. ``synchronous_commit`` is left as the server has it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import orjson

from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.sql.database import Database
from modelyard.store.sql.errors import is_transient, retry_delay
from modelyard.store.tracking.sql.common import ACTIVE, RUN_NAME_TAG

# Prepared once per connection (the statement is planned once, not per call), executed by name;
# parameters by position: $1 run_uuid, $2 'active', $3/$4 param keys/values, $5/$6 tag keys/values,
# $7 the run's new name, $8-$12 the points' keys, values, timestamps, steps and NaN flags.
_TYPES = "(text, text, text[], text[], text[], text[], text, text[], float8[], int8[], int8[], bool[])"
_LOCK = "SELECT lifecycle_stage FROM runs WHERE run_uuid = $1 FOR NO KEY UPDATE"
_RUN = "WITH run AS (SELECT id FROM runs WHERE run_uuid = $1 AND lifecycle_stage = $2)"
_PARAMS = (
    ", pin AS (SELECT * FROM unnest($3::text[], $4::text[]) AS t(key, value))"
    ", clash AS (SELECT p.key, p.value AS old, pin.value AS new FROM run"
    " JOIN params p ON p.run_id = run.id JOIN pin ON pin.key = p.key WHERE p.value <> pin.value)"
    ", go AS (SELECT id FROM run WHERE NOT EXISTS (SELECT 1 FROM clash))"
    ", ins_params AS (INSERT INTO params (run_id, key, value) SELECT go.id, pin.key, pin.value FROM go, pin"
    " ON CONFLICT (run_id, key) DO NOTHING)"
)
_NO_PARAMS = ", go AS (SELECT id FROM run)"
_TAGS = (
    ", ins_tags AS (INSERT INTO tags (run_id, key, value)"
    " SELECT go.id, t.key, t.value FROM go, unnest($5::text[], $6::text[]) AS t(key, value)"
    " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value)"
)
_RENAME = ", renamed AS (UPDATE runs SET name = $7 FROM go WHERE runs.id = go.id)"
_LATER = "(e.step, e.timestamp, CASE WHEN e.is_nan THEN '-Infinity'::float8 ELSE e.value END)"
_METRICS = (
    ", pts AS (SELECT * FROM unnest($8::text[], $9::float8[], $10::int8[], $11::int8[], $12::bool[])"
    " AS m(key, value, ts, step, is_nan))"
    # the step of each key's latest point is the largest step stored for the key: a point past it
    # cannot be stored already
    ", lat AS (SELECT l.key, l.step FROM go JOIN latest_metrics l ON l.run_id = go.id)"
    ", ins_points AS (INSERT INTO metrics (run_id, key, value, timestamp, step, is_nan)"
    # a point at or before it is looked up on (run_id, key, step, ...), the metrics table's only index:
    # one index probe (OFFSET 0 keeps it a per-point subplan, never a join over the run's history)
    " SELECT go.id, m.key, m.value, m.ts, m.step, m.is_nan FROM go CROSS JOIN pts m"
    " LEFT JOIN lat ON lat.key = m.key WHERE lat.step IS NULL OR m.step > lat.step OR NOT EXISTS ("
    "SELECT 1 FROM metrics s WHERE s.run_id = go.id AND s.key = m.key AND s.step = m.step"
    " AND s.timestamp = m.ts AND s.value = m.value AND s.is_nan = m.is_nan OFFSET 0))"
    # each key's latest candidate among all the batch's points: a repeat left out above is a stored
    # point, never later than the stored latest one, so the upsert's condition turns it down
    ", ins_latest AS (INSERT INTO latest_metrics (run_id, key, value, timestamp, step, is_nan)"
    " SELECT DISTINCT ON (e.key) go.id, e.key, e.value, e.ts, e.step, e.is_nan FROM go, pts e"
    " ORDER BY e.key, e.step DESC, e.ts DESC,"
    " CASE WHEN e.is_nan THEN '-Infinity'::float8 ELSE e.value END DESC"
    " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp,"
    " step = excluded.step, is_nan = excluded.is_nan WHERE "
    + _LATER.replace("e.", "excluded.")
    + " > "
    + _LATER.replace("e.", "latest_metrics.")
    + ")"
)
_ARGS = (
    "(%(run)s, %(active)s, %(pk)s, %(pv)s, %(tk)s, %(tv)s, %(name)s, %(mk)s, %(mv)s, %(mt)s, %(ms)s, %(mn)s)"
)
_BOOL = {True: "t", False: "f"}
_PREPARED = "modelyard_pgbatch_prepared"  # the key, in the pool's info of a connection, of what it prepared
_NAME = "modelyard_batch_v3_"  # + the shape; a new version of a statement takes a new name


def _statement(params: bool, tags: bool, rename: bool, metrics: bool) -> tuple[str, str]:
    """(name, PREPARE statement) of the batch statement for this shape of batch."""
    name = _NAME + "".join("1" if part else "0" for part in (params, tags, rename, metrics))
    parts = [_RUN, _PARAMS if params else _NO_PARAMS]
    if tags:
        parts.append(_TAGS)
    if rename:
        parts.append(_RENAME)
    if metrics:
        parts.append(_METRICS)
    parts.append(" SELECT key, old, new FROM clash" if params else " SELECT 1 WHERE false")
    return name, f"PREPARE {name} {_TYPES} AS " + "".join(parts)


_LOCK_NAME = _NAME + "lock"
_PREPARE_LOCK = f"PREPARE {_LOCK_NAME} (text) AS {_LOCK}"


class Call(NamedTuple):
    """One hot write as one query, whatever runs it (``execute`` here on a pooled connection of the
    store's engine, ``modelyard.store.sql.pgasync`` on the server's event loop): the statements it
    needs prepared on the connection first (``(name, PREPARE ...)``), the query (``EXECUTE`` of them by
    name, bound on the client), its values, how many times a transient failure (deadlock,
    serialization) is tried, and ``answer(result_sets)``: the query's answer, one list of rows per
    statement, turned into the call's result (raising the store's errors)."""

    prepares: tuple[tuple[str, str], ...]
    query: str
    values: dict
    answer: Callable[[list[list[tuple]]], Any]
    attempts: int = 1


def result_sets(cur) -> list[list[tuple]]:
    """Every result set of the query ``cur`` ran, one list of rows per statement."""
    sets = [cur.fetchall()]
    while cur.nextset():
        sets.append(cur.fetchall())
    return sets


def execute(db: Database, call: Call):
    """``call`` on a pooled connection of ``db`` (``run_prepared``), tried again after a transient
    failure; its answer."""
    for attempt in range(1, call.attempts + 1):
        try:
            sets = run_prepared(db, call.prepares, call.query, call.values, result_sets)
            break
        except Exception as exc:
            if attempt == call.attempts or not is_transient(exc):
                raise
            time.sleep(retry_delay(attempt))
    return call.answer(sets)


def run_prepared(db: Database, prepares: Sequence[tuple[str, str]], query: str, values: dict, read):
    """``read(cursor)`` after ``query`` (which executes prepared statements by name) ran on an
    autocommit connection where every ``(name, PREPARE ...)`` of ``prepares`` was prepared first,
    once per connection (the pool's ``info`` of it remembers; see ``Database.autocommit``).

    psycopg answers a ROLLBACK, after it prepared statements of its own on the connection, with
    ``DEALLOCATE ALL`` (SQLAlchemy's reads end with one): ours are then gone, the query fails with
    "prepared statement does not exist" before running anything, and runs again after preparing."""
    import psycopg

    with db.autocommit() as (conn, info), psycopg.ClientCursor(conn) as cur:
        prepared = info.setdefault(_PREPARED, set())
        for attempt in (1, 2):
            for name, prepare in prepares:
                if name not in prepared:
                    cur.execute(prepare)
                    prepared.add(name)
            try:
                cur.execute(query, values)
            except psycopg.errors.InvalidSqlStatementName:  # deallocated: nothing ran (one transaction)
                if attempt == 2:
                    raise
                # what the connection still has (some may have been prepared since the DEALLOCATE)
                cur.execute(PREPARED_NOW, (_NAME + "%",))
                prepared.clear()
                prepared.update(row[0] for row in cur.fetchall())
                continue
            return read(cur)
    raise AssertionError("unreachable")


PREPARED_NOW = "SELECT name FROM pg_prepared_statements WHERE name LIKE %s"
"""The names of ours (``%s``: ``_NAME`` + '%') a connection has prepared."""

_UPDATE_RUN_NAME = _NAME + "update_run"
_PREPARE_UPDATE_RUN = (
    f"PREPARE {_UPDATE_RUN_NAME} (text, text, text, int8, text) AS"
    " WITH u AS (UPDATE runs SET status = COALESCE($3, status), end_time = COALESCE($4, end_time),"
    " name = COALESCE($5, name) WHERE run_uuid = $1 AND lifecycle_stage = $2"
    " RETURNING run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage,"
    " artifact_uri, id)"
    f", renamed AS (INSERT INTO tags (run_id, key, value) SELECT id, '{RUN_NAME_TAG}', $5 FROM u"
    " WHERE $5 IS NOT NULL ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value)"
    " SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage,"
    " artifact_uri FROM u"
)


def _first_row(sets: list[list[tuple]]):
    return sets[0][0] if sets[0] else None


def update_run_call(run_id: str, status: str | None, end_time: int | None, name: str | None) -> Call:
    """Set what is given of the active run's status, end time and name (and its name tag), in one
    statement (the UPDATE locks the row); answers the run's row after it, or None when no active run
    has that id (then nothing was written)."""
    query = f"EXECUTE {_UPDATE_RUN_NAME}(%(run)s, %(active)s, %(status)s, %(end)s, %(name)s)"
    values = {"run": run_id, "active": ACTIVE, "status": status, "end": end_time, "name": name}
    return Call(((_UPDATE_RUN_NAME, _PREPARE_UPDATE_RUN),), query, values, _first_row)


def update_run(db: Database, run_id: str, status: str | None, end_time: int | None, name: str | None):
    """``update_run_call`` on ``db``."""
    return execute(db, update_run_call(run_id, status, end_time, name))


_CREATE_RUN_NAME = _NAME + "create_run"
_PREPARE_CREATE_RUN = (
    f"PREPARE {_CREATE_RUN_NAME} (text, int8, text, text, text, int8, text, text, text[], text[]) AS"
    " WITH r AS (INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time,"
    " lifecycle_stage, artifact_uri) SELECT $1, e.experiment_id, $3, $4, $5, $6, NULL, $7, $8"
    " FROM experiments e WHERE e.experiment_id = $2 AND e.lifecycle_stage = $7 RETURNING id)"
    ", t AS (INSERT INTO tags (run_id, key, value) SELECT r.id, x.key, x.value FROM r,"
    " unnest($9::text[], $10::text[]) AS x(key, value))"
    " SELECT id FROM r"
)


def _written(sets: list[list[tuple]]) -> bool:
    return bool(sets[0])


def create_run_call(
    run_uuid: str,
    experiment_id: int,
    name: str,
    user_id: str,
    status: str,
    start_time: int,
    artifact_uri: str,
    tags: dict[str, str],
) -> Call:
    """Insert the run and its tags in one statement if its experiment is active; answers False
    (nothing written) when there is no active experiment of that id."""
    query = (
        f"EXECUTE {_CREATE_RUN_NAME}(%(run)s, %(exp)s, %(name)s, %(user)s, %(status)s, %(start)s, %(active)s,"
        " %(uri)s, %(tk)s, %(tv)s)"
    )
    values = {
        "run": run_uuid,
        "exp": experiment_id,
        "name": name,
        "user": user_id,
        "status": status,
        "start": start_time,
        "active": ACTIVE,
        "uri": artifact_uri,
        "tk": _text_array(tags),
        "tv": _text_array(tags.values()),
    }
    return Call(((_CREATE_RUN_NAME, _PREPARE_CREATE_RUN),), query, values, _written)


def _quoted(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_array(values) -> str:
    return "{" + ",".join(map(_quoted, values)) + "}"


def _key_array(keys: list[str]) -> str:
    """``_text_array`` of metric keys, each distinct key quoted once (a batch repeats a few keys)."""
    quoted: dict[str, str] = {}
    for k in set(keys):
        quoted[k] = _quoted(k)
    return "{" + ",".join(map(quoted.__getitem__, keys)) + "}"


def _number_array(values: list) -> str:
    """A float8[] or int8[] literal of finite numbers. orjson writes the shortest digits that read
    back as the same double, as ``repr`` does, in C; a value it cannot write (a non-finite float,
    an int past 64 bits, another type) takes ``repr``."""
    try:
        text = orjson.dumps(values)
    except TypeError:
        text = b"null"
    if b"null" in text:
        return "{" + ",".join(map(repr, values)) + "}"
    return "{" + text[1:-1].decode() + "}"


def log_batch_call(
    run_id: str,
    params: dict[str, str],
    tags: dict[str, str],
    points: Sequence[dict],
    attempts: int = 4,
) -> Call:
    """A validated batch (store.py's ``_batch_rows``; points already without repeats within the
    batch) written to the run, all or nothing, in one round trip; answers None, or raises the
    store's errors (no such run, a deleted run, a param that would change)."""
    values: dict[str, object] = dict.fromkeys(("pk", "pv", "tk", "tv", "name", "mk", "mv", "mt", "ms", "mn"))
    values["run"], values["active"] = run_id, ACTIVE
    if params:
        values["pk"], values["pv"] = _text_array(params), _text_array(params.values())
    if tags:
        values["tk"], values["tv"] = _text_array(tags), _text_array(tags.values())
    rename = RUN_NAME_TAG in tags
    if rename:
        values["name"] = tags[RUN_NAME_TAG][:250]
    if points:
        values["mk"] = _key_array([p["key"] for p in points])
        values["mv"] = _number_array([p["value"] for p in points])
        values["mt"] = _number_array([p["timestamp"] for p in points])
        values["ms"] = _number_array([p["step"] for p in points])
        flags = [p["is_nan"] for p in points]
        values["mn"] = "{" + ",".join(map(_BOOL.__getitem__, flags)) + "}"
    name, prepare = _statement(bool(params), bool(tags), rename, bool(points))
    query = f"EXECUTE {_LOCK_NAME}(%(run)s); EXECUTE {name}{_ARGS}"
    prepares = ((_LOCK_NAME, _PREPARE_LOCK), (name, prepare))
    return Call(prepares, query, values, partial(_batch_answer, run_id, params), attempts)


def _batch_answer(run_id: str, params: dict[str, str], sets: list[list[tuple]]) -> None:
    stage = _first_row(sets)
    if stage is None:
        raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    if stage[0] != ACTIVE:
        raise InvalidParameterValue(
            f"The run {run_id} must be in the 'active' state. Current state is {stage[0]}."
        )
    clashes = sets[1] if params else []
    if clashes:
        changed = {key: (old, new) for key, old, new in clashes}
        detail = ", ".join(
            f"'{k}' (old value '{changed[k][0]}', new value '{changed[k][1]}')"
            for k in params
            if k in changed
        )
        raise InvalidParameterValue(
            f"Changing param values is not allowed. Params were already logged for run ID '{run_id}' "
            f"with different values: {detail}."
        )
