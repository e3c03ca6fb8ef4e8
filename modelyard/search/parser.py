"""The recursive-descent parser: filter strings and ``order_by`` lists to the AST.

Grammar (keywords case-insensitive; ``NOT`` binds tighter than ``AND``, ``AND`` than ``OR``)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | "(" or_expr ")" | comparison
    comparison := identifier comparator value
    comparator := = | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    value      := string | number | "(" scalar ("," scalar)* ")"     -- lists only for IN / NOT IN
    order_by   := identifier ["ASC" | "DESC"]

MLflow's filters are a plain conjunction; ``OR``, ``NOT``, parentheses and ``IN`` on params and
tags are modelyard's superset. What each entity may search is one :class:`EntityConfig` in
``ENTITIES``. Every error is an ``InvalidParameterValue`` naming the token and its position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modelyard.search.ast import (
    LIST_OPS,
    NULL_OPS,
    NUMERIC_OPS,
    And,
    Comparison,
    Expr,
    Not,
    Or,
    OrderBy,
    Scalar,
)
from modelyard.search.lexer import Token, describe, invalid, tokenize

MAX_DEPTH = 64

COMPARATORS = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"

# Identifier prefixes and their MLflow aliases.
_PREFIX_ALIASES = {
    "metric": ("metric", "metrics"),
    "param": ("param", "params", "parameter", "parameters"),
    "tag": ("tag", "tags"),
    "attribute": ("attribute", "attributes", "attr", "run"),
    "dataset": ("dataset", "datasets"),
}
PREFIXES = {alias: kind for kind, aliases in _PREFIX_ALIASES.items() for alias in aliases}
PLURAL = {kind: kind + "s" for kind in _PREFIX_ALIASES}


@dataclass(frozen=True, slots=True)
class Field:
    """How one searchable field compares: allowed operators and the type of its values.

    ``value`` is ``"number"``, ``"string"`` or ``"id"`` (a quoted string or an integer,
    normalised to ``str``: experiment ids are strings on the wire, integers in SQL).
    """

    ops: tuple[str, ...]
    value: str


NUMBER = Field(NUMERIC_OPS, "number")
STRING = Field(("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"), "string")
KEYED = Field(STRING.ops + NULL_OPS, "string")  # params and tags: IS NULL means "key absent"
ID = Field(("=", "!=", "IN", "NOT IN"), "id")


@dataclass(frozen=True, slots=True)
class EntityConfig:
    """What one entity can filter and order by.

    ``open_kinds`` take any key (``metrics.<anything>``); ``closed_kinds`` have a fixed set of
    keys (attributes, dataset fields); ``aliases`` map alternative attribute names to canonical
    ones; ``order`` maps the attribute names accepted by order_by to canonical keys (default:
    every attribute and alias); ``order_kinds`` are the open kinds order_by accepts.
    """

    name: str
    open_kinds: Mapping[str, Field]
    closed_kinds: Mapping[str, Mapping[str, Field]]
    order_kinds: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    order: Mapping[str, str] | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.open_kinds) + tuple(self.closed_kinds)

    @property
    def order_names(self) -> Mapping[str, str]:
        if self.order is not None:
            return self.order
        return {name: name for name in self.closed_kinds.get("attribute", {})} | dict(self.aliases)


def _identity(*names: str, **aliases: str) -> dict[str, str]:
    return {**{n: n for n in names}, **aliases}


_RUN_ALIASES = {"created": "start_time", "Created": "start_time"} | {
    name: "run_name" for name in ("run name", "Run name", "Run Name")
}
_METRICS_PARAMS_TAGS = {"metric": NUMBER, "param": KEYED, "tag": KEYED}
_TIMESTAMPS = ("creation_timestamp", "last_updated_timestamp")

ENTITIES: dict[str, EntityConfig] = {
    "runs": EntityConfig(
        name="runs",
        open_kinds=_METRICS_PARAMS_TAGS,
        closed_kinds={
            "attribute": {name: STRING for name in ("run_id", "run_name", "status", "user_id")}
            | {"artifact_uri": STRING, "lifecycle_stage": STRING, "start_time": NUMBER, "end_time": NUMBER},
            "dataset": {"name": STRING, "digest": STRING, "context": STRING},
        },
        order_kinds=frozenset(_METRICS_PARAMS_TAGS),
        aliases=_RUN_ALIASES,
    ),
    "experiments": EntityConfig(
        name="experiments",
        open_kinds={"tag": KEYED},
        closed_kinds={
            "attribute": {"name": STRING, "experiment_id": ID, "creation_time": NUMBER}
            | {"last_update_time": NUMBER, "lifecycle_stage": STRING}
        },
    ),
    "registered_models": EntityConfig(
        name="registered_models",
        open_kinds={"tag": KEYED},
        closed_kinds={"attribute": {"name": STRING}},
        order=_identity("name", *_TIMESTAMPS, timestamp="last_updated_timestamp"),
    ),
    "model_versions": EntityConfig(
        name="model_versions",
        open_kinds={"tag": KEYED},
        closed_kinds={
            "attribute": {"name": STRING, "run_id": STRING, "source_path": STRING, "version_number": NUMBER}
            | {"model_id": STRING}  # modelyard: the versions registered from a logged model
        },
        order=_identity("name", "version_number", *_TIMESTAMPS),
    ),
    "logged_models": EntityConfig(
        name="logged_models",
        open_kinds=_METRICS_PARAMS_TAGS,
        closed_kinds={
            "attribute": {
                name: STRING for name in ("name", "model_id", "model_type", "status", "source_run_id")
            }
            | {name: NUMBER for name in _TIMESTAMPS}
        },
        order_kinds=frozenset(_METRICS_PARAMS_TAGS),
        aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"}
        | {f"{name}_ms": name for name in _TIMESTAMPS},
    ),
}


def entity_config(entity: str) -> EntityConfig:
    try:
        return ENTITIES[entity]
    except KeyError:
        raise ValueError(f"unknown search entity {entity!r}; expected one of {sorted(ENTITIES)}") from None


def parse_filter(text: str | None, entity: str) -> Expr | None:
    """Parse a filter string for ``entity`` (a key of ``ENTITIES``: runs, experiments, ...).

    ``None``, ``""`` and whitespace mean "no filter" and return ``None``.
    """
    config = entity_config(entity)
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return _Parser(text, "filter", config).filter()


def parse_order_by(order_by: Sequence[str] | None, entity: str) -> list[OrderBy]:
    """Parse ``["metrics.rmse DESC", "params.lr", ...]`` (a lone string is one clause); each key
    may appear once. ``None`` and ``[]`` give ``[]``: the caller applies its default order."""
    config = entity_config(entity)
    result: list[OrderBy] = []
    for clause in [order_by] if isinstance(order_by, str) else order_by or ():
        term = _Parser(clause, "order_by clause", config).order_term()
        if any((t.kind, t.key) == (term.kind, term.key) for t in result):
            raise invalid(clause, "order_by clause", f"{PLURAL[term.kind]}.{term.key} is ordered by twice")
        result.append(term)
    return result


class _Parser:
    def __init__(self, source: str, label: str, config: EntityConfig) -> None:
        if not isinstance(source, str):
            raise invalid(repr(source), label, "expected a string")
        self.source = source
        self.label = label
        self.config = config
        self.tokens = tokenize(source, label)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "keyword" and token.value in words:
            self.advance()
            return str(token.value)
        return None

    def error(self, message: str) -> Exception:
        return invalid(self.source, self.label, message)

    def expected(self, what: str) -> Exception:
        token = self.peek()
        return self.error(f"unexpected {describe(token)} at position {token.pos}; expected {what}")

    # -- filters ---------------------------------------------------------------------
    def filter(self) -> Expr:
        expr = self.or_expr(0)
        if self.peek().kind != "end":
            raise self.expected("AND, OR or end of input")
        return expr

    def or_expr(self, depth: int) -> Expr:
        items = [self.and_expr(depth)]
        while self.keyword("OR"):
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Expr:
        items = [self.unary(depth)]
        while self.keyword("AND"):
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int) -> Expr:
        if depth >= MAX_DEPTH:
            token = self.peek()
            raise self.error(f"nested more than {MAX_DEPTH} levels deep at position {token.pos}")
        if self.keyword("NOT"):
            return Not(self.unary(depth + 1))
        if self.peek().kind == "(":
            self.advance()
            expr = self.or_expr(depth + 1)
            if self.peek().kind != ")":
                raise self.expected("AND, OR or ')'")
            self.advance()
            return expr
        return self.comparison()

    def comparison(self) -> Comparison:
        kind, key, spec = self.identifier(order=False)
        op_token = self.peek()
        op = self.comparator()
        if op not in spec.ops:
            raise self.error(
                f"{op} is not allowed on {self.field_name(kind, key)} at position {op_token.pos}; "
                f"use one of {', '.join(spec.ops)}"
            )
        if op in NULL_OPS:
            return Comparison(kind, key, op)
        what = self.field_name(kind, key)
        if op in LIST_OPS:
            return Comparison(kind, key, op, self.value_list(spec, what))
        return Comparison(kind, key, op, self.scalar(spec, what))

    def comparator(self) -> str:
        token = self.peek()
        if token.kind == "op":
            self.advance()
            return str(token.value)
        if self.keyword("LIKE", "ILIKE", "IN"):
            return str(token.value)
        if self.keyword("NOT"):
            if self.keyword("IN"):
                return "NOT IN"
            raise self.expected("IN after NOT")
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if self.keyword("NULL"):
                return "IS NOT NULL" if negated else "IS NULL"
            raise self.expected("NULL" if negated else "NULL or NOT NULL")
        raise self.expected(f"a comparator ({COMPARATORS})")

    def value_list(self, spec: Field, what: str) -> tuple[Scalar, ...]:
        if self.peek().kind != "(":
            raise self.expected(f"a parenthesised list of values for {what}")
        self.advance()
        if self.peek().kind == ")":
            raise self.error(f"empty list at position {self.peek().pos}; IN needs at least one value")
        values = [self.scalar(spec, what)]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.scalar(spec, what))
        if self.peek().kind != ")":
            raise self.expected("',' or ')'")
        self.advance()
        return tuple(values)

    def scalar(self, spec: Field, what: str) -> Scalar:
        token = self.peek()
        if spec.value == "number" and token.kind == "number":
            self.advance()
            assert isinstance(token.value, int | float)
            return token.value
        if spec.value in ("string", "id") and token.kind == "string":
            self.advance()
            return str(token.value)
        if spec.value == "id" and token.kind == "number" and isinstance(token.value, int):
            self.advance()
            return str(token.value)
        wanted = {"number": "a number", "string": "a quoted string", "id": "a quoted id"}[spec.value]
        raise self.expected(f"{wanted} for {what}")

    # -- identifiers -----------------------------------------------------------------
    def identifier(self, order: bool) -> tuple[str, str, Field]:
        """Resolve ``prefix.key`` (or a bare attribute name) to its canonical kind, key, field."""
        token = self.peek()
        config = self.config
        if token.kind != "ident":
            raise self.expected("an identifier such as " + ", ".join(self.examples()))
        self.advance()
        key = str(token.value)
        if token.prefix is None:
            kind = "attribute"
        elif token.prefix in PREFIXES:
            kind = PREFIXES[token.prefix]
        else:
            raise self.error(
                f"unknown identifier prefix '{token.prefix}' at position {token.pos}; "
                f"expected one of {', '.join(PLURAL[k] for k in self.usable_kinds(order))}"
            )
        if kind not in self.usable_kinds(order):
            verb = "ordered" if order else "searched"
            raise self.error(f"{config.name} cannot be {verb} by {PLURAL[kind]} (at position {token.pos})")
        if not key:
            raise self.error(f"empty key at position {token.pos}")
        if kind in config.open_kinds:
            return kind, key, config.open_kinds[kind]
        fields = config.closed_kinds[kind]
        if order:
            valid: Mapping[str, str] = config.order_names
        else:
            aliases = config.aliases if kind == "attribute" else {}
            valid = {name: name for name in fields} | dict(aliases)
        if key not in valid:
            what = "dataset field" if kind == "dataset" else kind
            names = ", ".join(sorted(set(valid.values())))
            raise self.error(f"unknown {what} '{key}' at position {token.pos}; valid: {names}")
        canonical = valid[key]
        return kind, canonical, fields.get(canonical, STRING)

    def usable_kinds(self, order: bool) -> tuple[str, ...]:
        if not order:
            return self.config.kinds
        return tuple(sorted(self.config.order_kinds)) + ("attribute",)

    def examples(self) -> list[str]:
        return [f"{PLURAL[k]}.<key>" for k in self.config.open_kinds] + ["an attribute name"]

    def field_name(self, kind: str, key: str) -> str:
        return f"{PLURAL[kind]}.{key}"

    # -- order_by --------------------------------------------------------------------
    def order_term(self) -> OrderBy:
        if self.peek().kind == "end":
            raise self.expected("an identifier such as " + ", ".join(self.examples()))
        kind, key, _ = self.identifier(order=True)
        direction = self.keyword("ASC", "DESC")
        if self.peek().kind != "end":
            raise self.expected("ASC, DESC or end of input" if direction is None else "end of input")
        return OrderBy(kind, key, direction != "DESC")
