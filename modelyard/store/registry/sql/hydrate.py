"""Rows to MLflow's JSON shapes, in bulk: a page of models or versions costs a fixed number of
queries, whatever its size.

- versions: their tags (one query per chunk of ids) and aliases (one per chunk of models);
- models: tags, aliases and ``latest_versions`` (the versions flagged ``is_latest``: one indexed
  lookup per chunk of models) with their tags.

Rows become plain dicts in the wire shape (``ModelVersion.to_dict()`` / ``RegisteredModel.to_dict()``)
straight from row tuples: the server sends them as they are (``*_wire`` methods of the store), the
Python API builds entities from them. The bulk queries take only our own integer ids and constants:
their SQL is compiled once per dialect and run on the DB-API cursor, so a 10,000-row page neither
builds 10,000 SQL expressions nor 10,000 row objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, select

from modelyard.entities import ModelVersion, RegisteredModel
from modelyard.store.registry import tables as db

rm = db.registered_models
mv = db.model_versions
mvt = db.model_version_tags
rmt = db.registered_model_tags
aliases_table = db.registered_model_aliases
CHUNK = 5000  # ids per IN (...) list: far below every backend's bind-parameter limit

VERSION_COLUMNS = (
    mv.c.id,
    mv.c.rm_id,
    rm.c.name,
    mv.c.version,
    mv.c.creation_time,
    mv.c.last_updated_time,
    mv.c.current_stage,
    mv.c.status,
    mv.c.description,
    mv.c.user_id,
    mv.c.source,
    mv.c.run_id,
    mv.c.run_link,
    mv.c.model_id,
    mv.c.status_message,
)
MODEL_COLUMNS = (
    rm.c.id,
    rm.c.name,
    rm.c.creation_time,
    rm.c.last_updated_time,
    rm.c.description,
    rm.c.user_id,
    rm.c.deployment_job_id,
)

_IDS = sa.literal_column("(__MODELYARD_IDS__)")  # becomes one placeholder per id at execution


def _in_ids(column: sa.Column[Any]) -> sa.ColumnElement[bool]:
    return column.op("IN", is_comparison=True)(_IDS)


_VERSION_TAGS = select(mvt.c.mv_id, mvt.c.key, mvt.c.value).where(_in_ids(mvt.c.mv_id)).order_by(mvt.c.mv_id, mvt.c.key)
_MODEL_TAGS = select(rmt.c.rm_id, rmt.c.key, rmt.c.value).where(_in_ids(rmt.c.rm_id)).order_by(rmt.c.rm_id, rmt.c.key)
_ALIASES = (
    select(aliases_table.c.rm_id, aliases_table.c.alias, aliases_table.c.version)
    .where(_in_ids(aliases_table.c.rm_id))
    .order_by(aliases_table.c.rm_id, aliases_table.c.alias)
)


def versions_query() -> sa.Select:
    """Model-version rows with their model's name (``VERSION_COLUMNS``)."""
    return select(*VERSION_COLUMNS).select_from(mv.join(rm, rm.c.id == mv.c.rm_id))


_LATEST_VERSIONS = (  # the newest version per stage of each model: the rows flagged is_latest
    versions_query().where(_in_ids(mv.c.rm_id), mv.c.is_latest == sa.true()).order_by(mv.c.rm_id, mv.c.version)
)
_SQL: dict[tuple[str, int], tuple[str, str]] = {}  # (dialect, statement id) -> (before, after) the id list


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _sql(conn: Connection, stmt: sa.Select) -> tuple[str, str]:
    """The statement's SQL for this dialect, split where the id list goes (compiled once)."""
    key = (conn.dialect.name, id(stmt))
    found = _SQL.get(key)
    if found is None:
        text = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        before, _, after = text.partition("__MODELYARD_IDS__")
        found = _SQL[key] = (before, after)
    return found


def _rows(conn: Connection, stmt: sa.Select, ids: Sequence[int], *, sql: tuple[str, str] | None = None) -> list[tuple]:
    """Run a hydration statement for ``ids`` on the DB-API cursor: plain tuples, no per-row objects.
    Only integer ids (from our own rows) and constants go into these statements."""
    before, after = sql or _sql(conn, stmt)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    out: list[tuple] = []
    cursor = conn.connection.cursor()
    try:
        for part in chunks(ids):
            cursor.execute(before + ",".join([mark] * len(part)) + after, tuple(part))
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


# Tags as JSON text built by the database, one array per owner, for the server's answers (orjson
# embeds the text as is). MySQL/MariaDB have no ordered, reliably nested JSON aggregate: Python path.
_JSON_TAGS = {
    "sqlite": "SELECT {owner}, json_group_array(json_object('key', \"key\", 'value', value)) FROM "
    "(SELECT {owner}, \"key\", value FROM {table} WHERE {owner} IN (__MODELYARD_IDS__) ORDER BY {owner}, \"key\") "
    "GROUP BY {owner}",
    "postgresql": "SELECT {owner}, CAST(json_agg(json_build_object('key', \"key\", 'value', value) ORDER BY \"key\") "
    "AS TEXT) FROM {table} WHERE {owner} IN (__MODELYARD_IDS__) GROUP BY {owner}",
}


def _json_tags(conn: Connection, stmt: sa.Select, ids: Sequence[int]) -> dict[int, Any] | None:
    template = _JSON_TAGS.get(conn.dialect.name)
    if template is None:
        return None
    table = mvt if stmt is _VERSION_TAGS else rmt
    owner = "mv_id" if stmt is _VERSION_TAGS else "rm_id"
    key = (conn.dialect.name, id(stmt), "json")
    if key not in _SQL:
        before, _, after = template.format(owner=owner, table=table.name).partition("__MODELYARD_IDS__")
        _SQL[key] = (before, after)
    return {owner_id: orjson.Fragment(text) for owner_id, text in _rows(conn, stmt, ids, sql=_SQL[key])}


def _tags(conn: Connection, stmt: sa.Select, ids: Sequence[int], *, as_json: bool = False) -> dict[int, Any]:
    """Each owner's tags as ``[{"key", "value"}, ...]`` (sorted by key); ``as_json``: JSON text
    fragments where the database can build them."""
    if as_json:
        found = _json_tags(conn, stmt, ids)
        if found is not None:
            return found
    out: dict[int, list[dict[str, str]]] = defaultdict(list)
    for owner, key, value in _rows(conn, stmt, ids):
        out[owner].append({"key": key, "value": value})
    return out


def _aliases(conn: Connection, rm_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for rm_id, alias, version in _rows(conn, _ALIASES, rm_ids):
        out[rm_id].append((alias, version))
    return out


def _by_version(aliases: dict[int, list[tuple[str, int]]]) -> dict[tuple[int, int], list[str]]:
    out: dict[tuple[int, int], list[str]] = defaultdict(list)
    for rm_id, items in aliases.items():
        for alias, version in items:
            out[(rm_id, version)].append(alias)
    return out


def _version_dict(row: Sequence[Any], tags: list | None, aliases: list[str] | None) -> dict:
    out = {
        "name": row[2],
        "version": str(row[3]),
        "creation_timestamp": row[4],
        "last_updated_timestamp": row[5],
        "current_stage": row[6],
        "status": row[7],
    }
    if row[8]:
        out["description"] = row[8]
    if row[9]:
        out["user_id"] = row[9]
    if row[10]:
        out["source"] = row[10]
    if row[11]:
        out["run_id"] = row[11]
    if row[12]:
        out["run_link"] = row[12]
    if row[13]:
        out["model_id"] = row[13]
    if row[14]:
        out["status_message"] = row[14]
    if tags:
        out["tags"] = tags
    if aliases:
        out["aliases"] = aliases
    return out


def version_dicts(conn: Connection, rows: Sequence[Any], *, as_json: bool = False) -> list[dict]:
    """Wire dicts for rows of ``versions_query()``, in the same order (``as_json``: tags may be
    pre-serialized JSON fragments, for answers that go straight to ``orjson.dumps``)."""
    if not rows:
        return []
    tags = _tags(conn, _VERSION_TAGS, [r[0] for r in rows], as_json=as_json)
    by_version = _by_version(_aliases(conn, sorted({r[1] for r in rows})))
    return [_version_dict(r, tags.get(r[0]), by_version.get((r[1], r[3]))) for r in rows]


def model_dicts(conn: Connection, rows: Sequence[Any], *, as_json: bool = False) -> list[dict]:
    """Wire dicts for rows of ``MODEL_COLUMNS``, in the same order, with latest versions, tags, aliases."""
    if not rows:
        return []
    ids = [r[0] for r in rows]
    tags = _tags(conn, _MODEL_TAGS, ids, as_json=as_json)
    aliases = _aliases(conn, ids)
    latest_rows = _rows(conn, _LATEST_VERSIONS, ids)
    version_tags = _tags(conn, _VERSION_TAGS, [v[0] for v in latest_rows], as_json=as_json)
    by_version = _by_version(aliases)
    latest: dict[int, list[dict]] = defaultdict(list)
    for v in latest_rows:
        latest[v[1]].append(_version_dict(v, version_tags.get(v[0]), by_version.get((v[1], v[3]))))
    out = []
    for rm_id, name, created, updated, description, user_id, job_id in (r[:7] for r in rows):
        d: dict = {"name": name, "creation_timestamp": created, "last_updated_timestamp": updated}
        if description:
            d["description"] = description
        if user_id:
            d["user_id"] = user_id
        if rm_id in latest:
            d["latest_versions"] = latest[rm_id]
        if rm_id in tags:
            d["tags"] = tags[rm_id]
        if rm_id in aliases:
            d["aliases"] = [{"alias": a, "version": str(v)} for a, v in aliases[rm_id]]
        if job_id:
            d["deployment_job_id"] = job_id
        out.append(d)
    return out


def load_versions(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    return [ModelVersion.from_dict(d) for d in version_dicts(conn, rows)]


def load_models(conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
    return [RegisteredModel.from_dict(d) for d in model_dicts(conn, rows)]
