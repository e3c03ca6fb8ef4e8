"""The filter grammar as a user meets it: what parses to what, and what each mistake says."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.search import (
    And,
    Comparison,
    Not,
    Or,
    OrderBy,
    decode_page_token,
    encode_page_token,
    paging,
    parse_filter,
    parse_order_by,
    render,
)
from modelyard.search.lexer import tokenize
from modelyard.search.paging import MAX_OFFSET, offset_token, page_offset


def metric(key: str, op: str, value: object) -> Comparison:
    return Comparison("metric", key, op, value)


def tag(key: str, op: str, value: object = None) -> Comparison:
    return Comparison("tag", key, op, value)


def attr(key: str, op: str, value: object) -> Comparison:
    return Comparison("attribute", key, op, value)


# -- what parses to what --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.rmse < 0.5", metric("rmse", "<", 0.5)),
        ("metric.rmse<=1", metric("rmse", "<=", 1)),
        ("metrics.a <> -2.5e-3", metric("a", "!=", -0.0025)),
        ("metrics.a > .5", metric("a", ">", 0.5)),
        ("metrics.a = 99999999999999999999", metric("a", "=", 1e20)),
        ("metrics.`f1 score` >= 0.9", metric("f1 score", ">=", 0.9)),
        ('metrics."f1 score" >= 0.9', metric("f1 score", ">=", 0.9)),
        ("metrics.`it``s` = 1", metric("it`s", "=", 1)),
        ("params.lr = '0.01'", Comparison("param", "lr", "=", "0.01")),
        ("parameters.lr = '0.01'", Comparison("param", "lr", "=", "0.01")),
        ('param.lr = "0.01"', Comparison("param", "lr", "=", "0.01")),
        ("tags.mlflow.runName = 'it''s'", tag("mlflow.runName", "=", "it's")),
        ('tags."my key" = "say ""hi"""', tag("my key", "=", 'say "hi"')),
        ("tags.x like 'a%'", tag("x", "LIKE", "a%")),
        ("tags.x ILike 'A_'", tag("x", "ILIKE", "A_")),
        ("tags.x is null", tag("x", "IS NULL")),
        ("tags.x IS NOT NULL", tag("x", "IS NOT NULL")),
        ("tags.x in ('a', \"b\")", tag("x", "IN", ("a", "b"))),
        ("tags.x not in ('a')", tag("x", "NOT IN", ("a",))),
        ("attributes.run_id IN ('a','b')", attr("run_id", "IN", ("a", "b"))),
        ("attr.status = 'FINISHED'", attr("status", "=", "FINISHED")),
        ("run.user_id != 'bob'", attr("user_id", "!=", "bob")),
        ("status = 'FAILED'", attr("status", "=", "FAILED")),
        ("created > 5", attr("start_time", ">", 5)),
        ("attributes.Created > 5", attr("start_time", ">", 5)),
        ("`Run name` LIKE 'x%'", attr("run_name", "LIKE", "x%")),
        ("attributes.`run name` = 'x'", attr("run_name", "=", "x")),
        ("datasets.digest IN ('d1')", Comparison("dataset", "digest", "IN", ("d1",))),
        ("dataset.context = 'train'", Comparison("dataset", "context", "=", "train")),
        ("tags.k = 'a' or tags.k = 'b'", Or((tag("k", "=", "a"), tag("k", "=", "b")))),
    ],
)
def test_runs_filter(text: str, expected: object) -> None:
    assert parse_filter(text, "runs") == expected


def test_precedence_not_then_and_then_or() -> None:
    a, b, c = (metric(k, ">", 1) for k in "abc")
    assert parse_filter("metrics.a > 1 OR metrics.b > 1 AND metrics.c > 1", "runs") == Or((a, And((b, c))))
    assert parse_filter("(metrics.a > 1 OR metrics.b > 1) AND metrics.c > 1", "runs") == And((Or((a, b)), c))
    assert parse_filter("NOT metrics.a > 1 AND metrics.b > 1", "runs") == And((Not(a), b))
    assert parse_filter("not (metrics.a > 1 and metrics.b > 1)", "runs") == Not(And((a, b)))
    assert parse_filter("metrics.a > 1 AND metrics.b > 1 AND metrics.c > 1", "runs") == And((a, b, c))
    assert parse_filter("((metrics.a > 1))", "runs") == a


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text, "runs") is None


def test_other_entities() -> None:
    assert parse_filter("experiment_id IN ('1', 2) AND name ILIKE '%x'", "experiments") == And(
        (attr("experiment_id", "IN", ("1", "2")), attr("name", "ILIKE", "%x"))
    )
    assert parse_filter("attributes.creation_time >= 10", "experiments") == attr("creation_time", ">=", 10)
    assert parse_filter("name = 'm' and tags.t != 'x'", "registered_models") == And(
        (attr("name", "=", "m"), tag("t", "!=", "x"))
    )
    assert parse_filter("run_id IN ('r1') AND version_number > 2", "model_versions") == And(
        (attr("run_id", "IN", ("r1",)), attr("version_number", ">", 2))
    )
    with pytest.raises(ValueError, match="unknown search entity"):
        parse_filter("name = 'x'", "widgets")


def test_tokens_carry_positions() -> None:
    tokens = tokenize("metrics.`a b` >= -1 AND (tags.t IS NULL)")
    assert [(t.kind, t.pos, t.value) for t in tokens] == [
        ("ident", 0, "a b"),
        ("op", 14, ">="),
        ("number", 17, -1),
        ("keyword", 20, "AND"),
        ("(", 24, None),
        ("ident", 25, "t"),
        ("keyword", 32, "IS"),
        ("keyword", 35, "NULL"),
        (")", 39, None),
        ("end", 40, None),
    ]


# -- what each mistake says -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "metrics.a >> 1",
            "Invalid filter 'metrics.a >> 1': unexpected '>' at position 11; expected a number for metrics.a",
        ),
        (
            "metrics.a 1",
            "Invalid filter 'metrics.a 1': unexpected '1' at position 10; expected a comparator "
            "(=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)",
        ),
        (
            "metrics.a LIKE '1'",
            "Invalid filter 'metrics.a LIKE '1'': LIKE is not allowed on metrics.a at position 10; "
            "use one of =, !=, <, <=, >, >=",
        ),
        (
            "metrics.a = 'x'",
            "Invalid filter 'metrics.a = 'x'': unexpected 'x' at position 12; expected a number for metrics.a",
        ),
        (
            "params.p = 1",
            "Invalid filter 'params.p = 1': unexpected '1' at position 11; expected a quoted string for params.p",
        ),
        ("tags.t = 'abc", "Invalid filter 'tags.t = 'abc': unterminated string starting at position 9"),
        ("tags.`abc = 'x'", "Invalid filter 'tags.`abc = 'x'': unterminated quoted name starting at position 5"),
        (
            "metrics.a > 1 metrics.b > 2",
            "Invalid filter 'metrics.a > 1 metrics.b > 2': unexpected 'metrics.b' at position 14; "
            "expected AND, OR or end of input",
        ),
        (
            "tags.t IN ()",
            "Invalid filter 'tags.t IN ()': empty list at position 11; IN needs at least one value",
        ),
        (
            "attributes.colour = 'red'",
            "Invalid filter 'attributes.colour = 'red'': unknown attribute 'colour' at position 0; valid: "
            "artifact_uri, end_time, lifecycle_stage, run_id, run_name, start_time, status, user_id",
        ),
        (
            "foo.x = 1",
            "Invalid filter 'foo.x = 1': unknown identifier prefix 'foo' at position 0; "
            "expected one of metrics, params, tags, attributes, datasets",
        ),
        ("(tags.t = 'a'", "Invalid filter '(tags.t = 'a'': unexpected end of input at position 13; expected AND, OR or ')'"),
        ("metrics.a > 1e999", "Invalid filter 'metrics.a > 1e999': number '1e999' at position 12 is out of range"),
        ("tags.t IS 'x'", "Invalid filter 'tags.t IS 'x'': unexpected 'x' at position 10; expected NULL or NOT NULL"),
        ("tags.t NOT LIKE 'x'", "Invalid filter 'tags.t NOT LIKE 'x'': unexpected 'LIKE' at position 11; expected IN after NOT"),
        ("metrics. > 1", "Invalid filter 'metrics. > 1': expected a key after 'metrics.' at position 8, found ' '"),
        ("metrics.a > 1 AND", "Invalid filter 'metrics.a > 1 AND': unexpected end of input at position 17; expected an identifier such as metrics.<key>, params.<key>, tags.<key>, an attribute name"),
        ("metrics.a ! 1", "Invalid filter 'metrics.a ! 1': unexpected '!' at position 10"),
        ("start_time > '5'", "Invalid filter 'start_time > '5'': unexpected '5' at position 13; expected a number for attributes.start_time"),
        ("metrics.a IS NULL", "Invalid filter 'metrics.a IS NULL': IS NULL is not allowed on metrics.a at position 10; use one of =, !=, <, <=, >, >="),
        ("datasets.source = 'x'", "Invalid filter 'datasets.source = 'x'': unknown dataset field 'source' at position 0; valid: context, digest, name"),
    ],
)  # fmt: skip
def test_error_messages_name_the_token_and_its_position(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_filter(text, "runs")
    assert caught.value.message == message
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("text", "entity", "fragment"),
    [
        ("metrics.a > 1", "experiments", "experiments cannot be searched by metrics (at position 0)"),
        ("datasets.name = 'x'", "registered_models", "registered_models cannot be searched by datasets"),
        ("name LIKE 1", "experiments", "expected a quoted string for attributes.name"),
        ("experiment_id LIKE '1'", "experiments", "LIKE is not allowed on attributes.experiment_id"),
        ("experiment_id = 1.5", "experiments", "expected a quoted id for attributes.experiment_id"),
        ("creation_timestamp > 1", "registered_models", "unknown attribute 'creation_timestamp'"),
    ],
)
def test_entity_specific_errors(text: str, entity: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_filter(text, entity)


# -- order_by --------------------------------------------------------------------------------
def test_order_by() -> None:
    assert parse_order_by(None, "runs") == []
    assert parse_order_by(["metrics.rmse DESC", "params.lr", "created asc", "tags.`a b` Desc"], "runs") == [
        OrderBy("metric", "rmse", False),
        OrderBy("param", "lr", True),
        OrderBy("attribute", "start_time", True),
        OrderBy("tag", "a b", False),
    ]
    assert parse_order_by(["attributes.run_id"], "runs") == [OrderBy("attribute", "run_id")]
    assert parse_order_by(["name", "experiment_id DESC"], "experiments") == [
        OrderBy("attribute", "name"),
        OrderBy("attribute", "experiment_id", False),
    ]
    assert parse_order_by(["timestamp DESC"], "registered_models") == [
        OrderBy("attribute", "last_updated_timestamp", False)
    ]
    assert parse_order_by(["version_number"], "model_versions") == [OrderBy("attribute", "version_number")]


@pytest.mark.parametrize(
    ("clauses", "entity", "message"),
    [
        (["metrics.a", "metric.a DESC"], "runs", "Invalid order_by clause 'metric.a DESC': metrics.a is ordered by twice"),
        (["datasets.name"], "runs", "Invalid order_by clause 'datasets.name': runs cannot be ordered by datasets (at position 0)"),
        (["tags.t"], "experiments", "Invalid order_by clause 'tags.t': experiments cannot be ordered by tags (at position 0)"),
        (["metrics.a DESC x"], "runs", "Invalid order_by clause 'metrics.a DESC x': unexpected 'x' at position 15; expected end of input"),
        (["metrics.a UP"], "runs", "Invalid order_by clause 'metrics.a UP': unexpected 'UP' at position 10; expected ASC, DESC or end of input"),
        (["creation_time"], "registered_models", "Invalid order_by clause 'creation_time': unknown attribute 'creation_time' at position 0; valid: creation_timestamp, last_updated_timestamp, name"),
        ([""], "runs", "Invalid order_by clause '': unexpected end of input at position 0; expected an identifier"),
    ],
)  # fmt: skip
def test_order_by_errors(clauses: list[str], entity: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_order_by(clauses, entity)
    assert caught.value.message.startswith(message)


# -- render ----------------------------------------------------------------------------------
def test_render_is_canonical() -> None:
    text = "metric.`f1 score`>=1 and (tags.\"a'b\" = \"it's\" OR NOT created < 5.0) or status in ('A','B')"
    expr = parse_filter(text, "runs")
    assert render(expr) == (
        "(metrics.`f1 score` >= 1 AND (tags.`a'b` = 'it''s' OR NOT attributes.start_time < 5.0)) "
        "OR attributes.status IN ('A', 'B')"
    )
    assert parse_filter(render(expr), "runs") == expr


# -- page tokens -----------------------------------------------------------------------------
def test_page_tokens_round_trip() -> None:
    token = encode_page_token({"offset": 1000, "filter": "tags.a = 'ü'"})
    assert "=" not in token and "+" not in token and "/" not in token
    assert decode_page_token(token) == {"offset": 1000, "filter": "tags.a = 'ü'"}
    assert decode_page_token(None) == {} and decode_page_token("") == {}


def test_page_tokens_are_bound_to_their_query() -> None:
    token = offset_token(50, query=("runs", ["1"], "metrics.a > 1"))
    assert page_offset(token, query=("runs", ["1"], "metrics.a > 1")) == 50
    for other in [("runs", ["2"], "metrics.a > 1"), ("runs", ["1"], None), None]:
        with pytest.raises(InvalidParameterValue, match="not issued by this server for this search"):
            page_offset(token, query=other)


def test_edited_and_unsigned_tokens_are_refused() -> None:
    token = offset_token(50)
    body, mac = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"offset":5000}').decode().rstrip("=")
    for bad in [f"{forged}.{mac}", body, forged, "eyJvZmZzZXQiOiAxMDB9", f"{body}.{mac[:-2]}AA"]:
        with pytest.raises(InvalidParameterValue, match="Invalid page token"):
            decode_page_token(bad)


def test_offsets_out_of_range_are_refused() -> None:
    for payload in [{"offset": 10**30}, {"offset": -1}, {"offset": "3"}, {"offset": True}, {"offset": 1.5}]:
        with pytest.raises(InvalidParameterValue, match="bad offset"):
            page_offset(encode_page_token(payload))
    with pytest.raises(InvalidParameterValue, match="out of range"):
        offset_token(MAX_OFFSET + 1)


def test_a_configured_secret_changes_the_key() -> None:
    token = offset_token(7)
    paging.use_secret("another secret")
    try:
        with pytest.raises(InvalidParameterValue, match="Invalid page token"):
            page_offset(token)
        assert page_offset(offset_token(7)) == 7
    finally:
        paging.use_secret(b"restored " + os.urandom(16))


DEEP_JSON = base64.urlsafe_b64encode(b"[" * 3000).decode()


@pytest.mark.parametrize("token", ["not a token!", "WzFd", "bnVsbA", "%%%", "x" * 5000, DEEP_JSON, "é", "a.b.c"])
def test_bad_page_tokens(token: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        decode_page_token(token)


def test_search_package_does_not_import_sqlalchemy() -> None:
    code = "import sys, modelyard.search; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
