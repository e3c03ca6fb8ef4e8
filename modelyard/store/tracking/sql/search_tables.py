"""What tracking searches can name: runs, experiments and logged models as entities of the kernel's
search compiler (``modelyard.store.sql.search``), and the orderings of runs and experiments.

Runs: attributes are ``runs`` columns; metrics, params and tags are correlated ``EXISTS`` on
``latest_metrics`` (only the newest value counts), ``params`` and ``tags`` keyed by ``runs.id``;
``dataset.*`` tests the run's inputs. Experiments: attributes and ``experiment_tags``; an
``experiment_id`` is a string on the wire and an integer column (non-canonical ids never match).
Logged models: attributes, params and tags (their metrics are scoped by datasets per search, in
``logged_model_search.py``).

``apply_runs_order`` adds one ``LEFT OUTER JOIN`` per metric/param/tag ordering key (aliased per
position) and sorts real values first, then NaN metrics, then missing keys, in both directions, with
portable ``CASE WHEN ... THEN`` ranks (no ``NULLS LAST``, which MySQL lacks). Runs then tie-break on
``start_time DESC`` (NULL last) and ``run_uuid ASC``. The statements these functions extend must
select from ``runs`` / ``experiments`` without ``DISTINCT``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from modelyard.entities import LoggedModelStatus
from modelyard.exceptions import InvalidParameterValue
from modelyard.search.ast import Comparison, Expr, OrderBy
from modelyard.search.evaluate import DATASET_CONTEXT_TAG
from modelyard.store.sql.schema import desc_nulls_last
from modelyard.store.sql.search import (
    ONE,
    TWO,
    ZERO,
    Entity,
    Keyed,
    attribute,
    direction,
    null_rank,
    predicate,
    where,
)
from modelyard.store.tracking import tables as schema

runs, experiments, lm = schema.runs, schema.experiments, schema.logged_models
RUN_COLUMNS: dict[str, sa.Column[Any]] = {
    "run_id": runs.c.run_uuid,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
EXPERIMENT_COLUMNS: dict[str, sa.Column[Any]] = {
    "experiment_id": experiments.c.experiment_id,
    "name": experiments.c.name,
    "lifecycle_stage": experiments.c.lifecycle_stage,
    "creation_time": experiments.c.creation_time,
    "last_update_time": experiments.c.last_update_time,
}
LOGGED_MODEL_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": lm.c.name,
    "model_id": lm.c.model_id,
    "model_type": lm.c.model_type,
    "status": lm.c.status,
    "source_run_id": lm.c.source_run_id,
    "creation_timestamp": lm.c.creation_timestamp_ms,
    "last_updated_timestamp": lm.c.last_updated_timestamp_ms,
}
_RUN_KEYED = {
    "metric": Keyed(schema.latest_metrics, "run_id", numeric=True),
    "param": Keyed(schema.params, "run_id"),
    "tag": Keyed(schema.tags, "run_id"),
}
_CANONICAL_ID = re.compile(r"0|[1-9][0-9]{0,17}")


def _dataset(c: Comparison) -> ColumnElement[bool]:
    inputs = schema.run_inputs
    if c.key == "context":
        tags = schema.input_tags
        source = inputs.join(tags, tags.c.input_id == inputs.c.id)
        conditions = [tags.c.key == DATASET_CONTEXT_TAG, predicate(tags.c.value, c.op, c.value)]
    else:
        datasets = schema.datasets
        source = inputs.join(datasets, datasets.c.id == inputs.c.dataset_id)
        conditions = [predicate(datasets.c[c.key], c.op, c.value)]
    query = sa.select(ONE).select_from(source)
    return query.where(inputs.c.run_id == runs.c.id, *conditions).correlate(runs).exists()


def _experiment_id(c: Comparison) -> ColumnElement[bool]:
    column = EXPERIMENT_COLUMNS["experiment_id"]
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    ids = [int(v) for v in values if isinstance(v, str) and _CANONICAL_ID.fullmatch(v)]
    if c.op in ("=", "IN"):
        return column.in_(ids) if ids else sa.false()
    return column.not_in(ids) if ids else sa.true()


def _status_value(value: Any) -> Any:
    """``status = 'READY'`` means LOGGED_MODEL_READY; unknown names are compared as given."""
    if isinstance(value, tuple):
        return tuple(_status_value(x) for x in value)
    try:
        return LoggedModelStatus.parse(value).value
    except InvalidParameterValue:
        return value


def _logged_model_status(c: Comparison) -> ColumnElement[bool]:
    return attribute(lm.c.status, Comparison(c.kind, c.key, c.op, _status_value(c.value)))


RUNS = Entity("runs", runs, runs.c.id, RUN_COLUMNS, _RUN_KEYED, {"dataset": _dataset})
EXPERIMENTS = Entity(
    "experiments",
    experiments,
    experiments.c.experiment_id,
    EXPERIMENT_COLUMNS,
    {"tag": Keyed(schema.experiment_tags, "experiment_id")},
    {"attribute.experiment_id": _experiment_id},
)
LOGGED_MODELS = Entity(
    "logged models",
    lm,
    lm.c.id,
    LOGGED_MODEL_COLUMNS,
    {
        "metric": Keyed(schema.logged_model_metrics, "model_id", numeric=True),
        "param": Keyed(schema.logged_model_params, "model_id"),
        "tag": Keyed(schema.logged_model_tags, "model_id"),
    },
    {"attribute.status": _logged_model_status},
)


def runs_where(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause on ``runs`` selecting the runs that match ``expr`` (all when ``None``)."""
    return where(RUNS, expr)


def experiments_where(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause on ``experiments`` selecting those that match ``expr`` (all when ``None``)."""
    return where(EXPERIMENTS, expr)


def apply_runs_order(stmt: sa.Select, order_by: Sequence[OrderBy]) -> sa.Select:
    """``stmt`` (selecting from ``runs``) ordered by ``order_by`` plus the tie-breakers."""
    clauses: list[ColumnElement[Any]] = []
    for position, term in enumerate(order_by):
        if term.kind == "attribute":
            column: ColumnElement[Any] = RUN_COLUMNS[term.key]
            if term.key == "start_time" and not term.ascending:
                # the default order: one sort key that the (experiment_id, start_time DESC,
                # run_uuid) index serves (revision 0009)
                clauses.append(desc_nulls_last(column))
                continue
            if RUN_COLUMNS[term.key].nullable:
                clauses.append(null_rank(column))
        elif term.kind in _RUN_KEYED:
            joined = _RUN_KEYED[term.kind].table.alias(f"order_{position}_{term.kind}")
            on = sa.and_(joined.c.run_id == runs.c.id, joined.c.key == sa.literal(term.key, sa.String()))
            stmt = stmt.outerjoin_from(runs, joined, on)
            column = joined.c.value
            if term.kind == "metric":
                nan = joined.c.is_nan == sa.true()
                clauses.append(sa.case((joined.c.run_id.is_(None), TWO), (nan, ONE), else_=ZERO))
            else:
                clauses.append(null_rank(joined.c.run_id))
        else:
            raise ValueError(f"cannot order runs by {term.kind}")
        clauses.append(direction(column, term.ascending))
    ordered = {(t.kind, t.key) for t in order_by}
    if ("attribute", "start_time") not in ordered:
        clauses.append(desc_nulls_last(runs.c.start_time))
    if ("attribute", "run_id") not in ordered:
        clauses.append(runs.c.run_uuid.asc())
    return stmt.order_by(*clauses)


def apply_experiments_order(stmt: sa.Select, order_by: Sequence[OrderBy]) -> sa.Select:
    """``stmt`` ordered by ``order_by``; default ``creation_time DESC, experiment_id ASC``, and
    ``experiment_id DESC`` as the tie-breaker otherwise (both as MLflow's SQL store)."""
    terms = list(order_by) or [
        OrderBy("attribute", "creation_time", False),
        OrderBy("attribute", "experiment_id", True),
    ]
    if not any(t.key == "experiment_id" for t in terms):
        terms.append(OrderBy("attribute", "experiment_id", False))
    clauses: list[ColumnElement[Any]] = []
    for term in terms:
        if term.kind != "attribute" or term.key not in EXPERIMENT_COLUMNS:
            raise ValueError(f"cannot order experiments by {term.kind} {term.key!r}")
        column = EXPERIMENT_COLUMNS[term.key]
        if column.nullable:
            clauses.append(null_rank(column))
        clauses.append(direction(column, term.ascending))
    return stmt.order_by(*clauses)
