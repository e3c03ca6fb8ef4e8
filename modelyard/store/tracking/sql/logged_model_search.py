"""Searching logged models: the filter (the kernel's compiler over ``search_tables.LOGGED_MODELS``),
MLflow's ``datasets`` clause (metrics count only when logged for one of those datasets) and ordering
(attributes, or the newest value of a metric / param / tag, missing values last). Page tokens carry
the offset and a fingerprint of the search they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import ColumnElement

from modelyard import validation as v
from modelyard.entities import LoggedModel, PagedList
from modelyard.exceptions import InvalidParameterValue
from modelyard.search.ast import OrderBy
from modelyard.store.sql.search import ONE, mentions, where
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql.common import ACTIVE, experiment_int
from modelyard.store.tracking.sql.logged_models import SEARCH_DEFAULT_MAX_RESULTS, SEARCH_MAX_RESULTS, load
from modelyard.store.tracking.sql.search_tables import LOGGED_MODEL_COLUMNS, LOGGED_MODELS

lm = db.logged_models


def search(
    conn: Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None = None,
    datasets: Sequence[Mapping[str, Any]] | None = None,
    max_results: int | None = None,
    order_by: Sequence[Mapping[str, Any] | str] | None = None,
    page_token: str | None = None,
) -> PagedList[LoggedModel]:
    from modelyard.search import parse_filter, parse_order_by
    from modelyard.search.paging import offset_token, page_offset

    max_results = v.validate_max_results(
        SEARCH_DEFAULT_MAX_RESULTS if max_results is None else max_results, SEARCH_MAX_RESULTS
    )
    dataset_filters = _dataset_filters(datasets or ())
    expr = parse_filter(filter_string, "logged_models")
    terms: list[tuple[OrderBy, list[Mapping[str, Any]]]] = []
    for clause in order_by or ():
        text, scope = _order_clause(clause)
        (term,) = parse_order_by([text], "logged_models")
        terms.append((term, scope))
    query = ("logged_models", list(experiment_ids), filter_string, datasets, order_by)
    offset = page_offset(page_token, query=query)
    ids = [experiment_int(e) for e in experiment_ids]
    if not ids:
        return PagedList([], None)
    stmt = select(lm).where(lm.c.experiment_id.in_(ids), lm.c.lifecycle_stage == ACTIVE)
    if expr is not None:
        scope = _dataset_clause(dataset_filters)
        stmt = stmt.where(where(LOGGED_MODELS, expr, {"metric": [scope]} if scope is not None else None))
    if dataset_filters and not mentions(expr, "metric"):
        stmt = stmt.where(_metric_exists([], dataset_filters))
    stmt = stmt.order_by(*_order(terms, dataset_filters)).limit(max_results + 1).offset(offset)
    rows = conn.execute(stmt).all()
    next_token = None
    if len(rows) > max_results:
        next_token = offset_token(offset + max_results, query=query)
    return PagedList(load(conn, rows[:max_results]), next_token)


def _dataset_filters(datasets: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    out = []
    for d in datasets:
        name = d.get("dataset_name")
        if not name:
            raise InvalidParameterValue("`dataset_name` in the `datasets` clause must be specified.")
        out.append((str(name), d.get("dataset_digest") or None))
    return out


def _order_clause(clause: Mapping[str, Any] | str) -> tuple[str, list[Mapping[str, Any]]]:
    """``"metrics.acc DESC"`` or MLflow's ``{field_name, ascending, dataset_name, dataset_digest}``."""
    if isinstance(clause, str):
        return clause, []
    field = clause.get("field_name")
    if not isinstance(field, str) or not field.strip():
        raise InvalidParameterValue("order_by needs a field_name")
    ascending = clause.get("ascending", True)
    text = f"{field} {'ASC' if ascending in (True, None) else 'DESC'}"
    scope = []
    if clause.get("dataset_name"):
        if not field.startswith(("metrics.", "metric.")):
            raise InvalidParameterValue(
                f"dataset_name may only be set when ordering by a metric, not {field!r}"
            )
        scope.append({"dataset_name": clause["dataset_name"], "dataset_digest": clause.get("dataset_digest")})
    elif clause.get("dataset_digest"):
        raise InvalidParameterValue("dataset_digest may only be set together with dataset_name")
    return text, scope


def _dataset_clause(datasets: Sequence[tuple[str, str | None]]) -> ColumnElement[bool] | None:
    if not datasets:
        return None
    t = db.logged_model_metrics
    return sa.or_(
        *(
            sa.and_(t.c.dataset_name == name, *([t.c.dataset_digest == digest] if digest else []))
            for name, digest in datasets
        )
    )


def _metric_exists(conditions: list, datasets: Sequence[tuple[str, str | None]]) -> ColumnElement[bool]:
    t = db.logged_model_metrics
    scope = _dataset_clause(datasets)
    where = [t.c.model_id == lm.c.id, *conditions, *([scope] if scope is not None else [])]
    return sa.select(ONE).select_from(t).where(*where).correlate(lm).exists()


def _order(
    terms: Sequence[tuple[OrderBy, list[Mapping[str, Any]]]], datasets: Sequence[tuple[str, str | None]]
) -> list[ColumnElement[Any]]:
    clauses: list[ColumnElement[Any]] = []
    for term, scope in terms:
        if term.kind == "attribute":
            column: ColumnElement[Any] = LOGGED_MODEL_COLUMNS[term.key]
            if LOGGED_MODEL_COLUMNS[term.key].nullable:
                clauses.append(sa.case((column.is_(None), 1), else_=0))
        elif term.kind == "metric":
            t = db.logged_model_metrics
            where = [t.c.model_id == lm.c.id, t.c.key == term.key]
            scoped = _dataset_clause(_dataset_filters(scope)) if scope else _dataset_clause(datasets)
            if scoped is not None:
                where.append(scoped)
            latest = (
                sa.select(t.c.value, t.c.is_nan)
                .where(*where)
                .order_by(t.c.timestamp.desc(), t.c.step.desc(), t.c.id.desc())
                .limit(1)
                .correlate(lm)
            )
            nan = latest.with_only_columns(sa.case((t.c.is_nan == sa.true(), 1), else_=0)).scalar_subquery()
            column = latest.with_only_columns(t.c.value).scalar_subquery()
            clauses.append(sa.case((nan.is_(None), 2), else_=nan))  # real values, then NaN, then missing
        else:
            table = db.logged_model_params if term.kind == "param" else db.logged_model_tags
            column = (
                sa.select(table.c.value)
                .where(table.c.model_id == lm.c.id, table.c.key == term.key)
                .correlate(lm)
                .scalar_subquery()
            )
            clauses.append(sa.case((column.is_(None), 1), else_=0))
        clauses.append(column.asc() if term.ascending else column.desc())
    keys = {t.key for t, _ in terms if t.kind == "attribute"}
    if "creation_timestamp" not in keys:
        clauses.append(lm.c.creation_timestamp_ms.desc())
    if "model_id" not in keys:
        clauses.append(lm.c.model_id.asc())
    return clauses
