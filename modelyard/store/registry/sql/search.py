"""Registry searches: registered models and versions as entities of the kernel's search compiler
(``modelyard.store.sql.search``), from the shared grammar (``parse_filter(text, entity)``).

- registered models: ``name`` and ``tags.<key>`` (the grammar's operators, OR/NOT/parentheses
  included); tags become correlated ``EXISTS`` on ``registered_model_tags``. Prompts (tag
  ``mlflow.prompt.is_prompt = 'true'``) are excluded unless the filter names that tag.
- model versions: ``name``, ``run_id``, ``source_path`` (the source), ``version_number``,
  ``model_id``, ``tags.<key>``; deleted versions never match.

One query selects the page (``LIMIT max_results + 1`` to know whether another page exists); the
page is hydrated by ``hydrate`` in a fixed number of bulk queries. Tokens carry the offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import ColumnElement

from modelyard.entities import ModelVersion, PagedList, RegisteredModel
from modelyard.entities.registry import STAGE_DELETED_INTERNAL
from modelyard.search import Comparison, OrderBy, parse_filter, parse_order_by
from modelyard.search.paging import offset_token, page_offset
from modelyard.store.registry import tables as db
from modelyard.store.registry.checks import PROMPT_TAG
from modelyard.store.registry.sql import hydrate
from modelyard.store.sql.search import ONE, Entity, Keyed, mentions, order_by_columns, where

rm = db.registered_models
mv = db.model_versions

MODEL_ORDER: dict[str, sa.Column[Any]] = {
    "name": rm.c.name,
    "creation_timestamp": rm.c.creation_time,
    "last_updated_timestamp": rm.c.last_updated_time,
}
VERSION_ORDER: dict[str, sa.Column[Any]] = {
    "name": rm.c.name,
    "version_number": mv.c.version,
    "creation_timestamp": mv.c.creation_time,
    "last_updated_timestamp": mv.c.last_updated_time,
}
VERSION_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": rm.c.name,
    "run_id": mv.c.run_id,
    "source_path": mv.c.source,
    "version_number": mv.c.version,
    "model_id": mv.c.model_id,
}


def _prompt_filter(rm_id: ColumnElement[Any], correlate: sa.Table):
    """MLflow's meaning of a filter on the prompt tag: ``= 'true'`` / ``!= 'false'`` ask for prompts,
    ``!= 'true'`` / ``= 'false'`` for everything else (models have no such tag at all); MLflow's
    client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every model search. Other
    comparisons of that tag are ordinary tag comparisons (None: the compiler's default)."""

    def leaf(c: Comparison) -> ColumnElement[bool] | None:
        if c.op not in ("=", "!=") or str(c.value).lower() not in ("true", "false"):
            return None
        tags = db.registered_model_tags
        wants_prompts = (c.op == "=") == (str(c.value).lower() == "true")
        is_prompt = _not_prompt(tags, tags.c.rm_id == rm_id, correlate)
        return sa.not_(is_prompt) if wants_prompts else is_prompt

    return leaf


MODELS = Entity(
    "registered models",
    rm,
    rm.c.id,
    {"name": rm.c.name},
    {"tag": Keyed(db.registered_model_tags, "rm_id")},
    {f"tag.{PROMPT_TAG}": _prompt_filter(rm.c.id, rm)},
)
VERSIONS = Entity(
    "model versions",
    mv,
    mv.c.id,
    VERSION_COLUMNS,
    {"tag": Keyed(db.model_version_tags, "mv_id")},
    {f"tag.{PROMPT_TAG}": _prompt_filter(mv.c.rm_id, mv)},
)


def _not_prompt(table: sa.Table, owner: ColumnElement[bool], correlate: sa.Table) -> ColumnElement[bool]:
    is_prompt = select(ONE).select_from(table).where(owner, table.c.key == PROMPT_TAG, table.c.value == "true")
    return ~is_prompt.correlate(correlate).exists()


def _has_prompts(conn: Connection) -> bool:
    """Whether any model is a prompt: one probe of the tag-key index, so that the usual registry
    (no prompts) skips the per-row exclusion."""
    tags = db.registered_model_tags
    probe = select(ONE).where(tags.c.key == PROMPT_TAG, tags.c.value == "true").limit(1)
    return conn.execute(probe).first() is not None


def _page(rows: Sequence[Any], offset: int, max_results: int, query: Any) -> str | None:
    return offset_token(offset + max_results, query=query) if len(rows) > max_results else None


def search_models(
    conn: Connection, filter_string: str | None, max_results: int, order_by: Sequence[str] | None, page_token: str | None
) -> PagedList[RegisteredModel]:
    items, token = search_models_wire(conn, filter_string, max_results, order_by, page_token)
    return PagedList([RegisteredModel.from_dict(d) for d in items], token)


def search_models_wire(
    conn: Connection,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
    as_json: bool = False,
) -> tuple[list[dict], str | None]:
    expr = parse_filter(filter_string, "registered_models")
    terms = parse_order_by(order_by, "registered_models")
    query = ("registered_models", filter_string, list(order_by or ()))
    offset = page_offset(page_token, query=query)
    clauses = [where(MODELS, expr)] if expr is not None else []
    if not mentions(expr, "tag", PROMPT_TAG) and _has_prompts(conn):
        tags = db.registered_model_tags
        clauses.append(_not_prompt(tags, tags.c.rm_id == rm.c.id, rm))
    order = order_by_columns(terms, MODEL_ORDER, [OrderBy("attribute", "name")]) + [rm.c.id.asc()]
    stmt = select(*hydrate.MODEL_COLUMNS).where(*clauses).order_by(*order).offset(offset).limit(max_results + 1)
    rows = conn.execute(stmt).all()
    return hydrate.model_dicts(conn, rows[:max_results], as_json=as_json), _page(rows, offset, max_results, query)


DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


def search_versions(
    conn: Connection, filter_string: str | None, max_results: int, order_by: Sequence[str] | None, page_token: str | None
) -> PagedList[ModelVersion]:
    items, token = search_versions_wire(conn, filter_string, max_results, order_by, page_token)
    return PagedList([ModelVersion.from_dict(d) for d in items], token)


def search_versions_wire(
    conn: Connection,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
    as_json: bool = False,
) -> tuple[list[dict], str | None]:
    expr = parse_filter(filter_string, "model_versions")
    terms = parse_order_by(order_by or DEFAULT_VERSION_ORDER, "model_versions")
    query = ("model_versions", filter_string, list(order_by or ()))
    offset = page_offset(page_token, query=query)
    clauses = [mv.c.current_stage != STAGE_DELETED_INTERNAL]
    if expr is not None:
        clauses.append(where(VERSIONS, expr))
    if not mentions(expr, "tag", PROMPT_TAG) and _has_prompts(conn):
        tags = db.registered_model_tags
        clauses.append(_not_prompt(tags, tags.c.rm_id == mv.c.rm_id, mv))
    tie = [OrderBy("attribute", "name"), OrderBy("attribute", "version_number", False)]
    order = order_by_columns(terms, VERSION_ORDER, tie)
    stmt = hydrate.versions_query().where(*clauses).order_by(*order).offset(offset).limit(max_results + 1)
    rows = conn.execute(stmt).all()
    return hydrate.version_dicts(conn, rows[:max_results], as_json=as_json), _page(rows, offset, max_results, query)
