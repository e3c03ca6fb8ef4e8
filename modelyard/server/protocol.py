"""MLflow's wire protocol: declare an endpoint once, parse its request, encode its answer.

- GET reads the query string (repeated keys for list fields), POST/PATCH/DELETE a JSON body
  whose Content-Type must be application/json (a cross-site form or text/plain POST is
  refused: MLflow's CVE-2023-43472). A double-encoded JSON string body is accepted, as MLflow
  does; an empty body is ``{}``. snake_case and lowerCamel field names are both accepted.
- Request messages are pydantic models; a bad field is INVALID_PARAMETER_VALUE naming it.
- Refused before any handler runs, naming the field: a NUL character (``\\u0000``) in any string of
  a body, query string or path (PostgreSQL cannot store one, and no name or value needs one), and a
  body nested deeper than ``MAX_JSON_DEPTH`` levels (orjson stops at 1,024; repr, json and our own
  code would recurse past Python's limit well before that). The NUL check costs one substring
  search of the raw body; the depth check runs in ``parse_message`` over the decoded message, so
  log-batch's fast path, which only takes flat metrics, skips it for its metrics.
- Answers are JSON with snake_case keys and int64 as numbers; empty answers are ``{}``.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from modelyard.auth.permissions import Permission
from modelyard.exceptions import BadRequest, InvalidParameterValue, PayloadTooLarge
from modelyard.validation import API_DOCS_HINT, invalid_value, missing_value
from modelyard.web.routing import NUL, check_strings, nul_refused

MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays a request body may have (the body itself is level 1)."""


class Message(BaseModel):
    """Base of request messages: both snake_case and lowerCamel names, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class KeyValue(Message):
    key: str
    value: str | None = None


class Empty(Message):
    pass


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint. ``handler(services, message, ctx)`` calls one service method and returns
    the answer's JSON payload (or a Response); ``permission`` is what the caller needs."""

    method: str
    path: str  # below the API prefix, e.g. "/mlflow/experiments/create"
    request: type[Message]
    handler: Callable[..., Any]
    summary: str
    permission: Permission
    since: int = 2  # API major version of the prefix (/api/2.0 or /api/3.0)
    # A faster parser for the common shape of a hot request; it must answer exactly as
    # parse_message would (falling back to it for anything unusual). None: parse_message.
    parse: Callable[[dict, dict | None], Message] | None = None
    # The handler only does a few quick indexed statements: run it on the event loop instead
    # of handing it to a worker thread (that hand-off costs more than the handler).
    inline: bool = False
    # The handler's work awaited on the event loop, ``await on_loop(services, message, ctx)``, used
    # when the services offer ``loop_writes`` (PostgreSQL's hot writes through psycopg's async
    # driver) and the permission check is free; it answers the payload, or ``DECLINED`` for a
    # request the handler must serve instead (on a thread). None: the handler alone.
    on_loop: Callable[..., Awaitable[Any]] | None = None


@dataclass
class RouteTable:
    """The endpoints of one resource module."""

    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        request: type[Message] = Empty,
        *,
        needs: Permission,
        since: int = 2,
        parse: Callable[[dict, dict | None], Message] | None = None,
        inline: bool = False,
    ):
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            summary = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
            self.endpoints.append(Endpoint(method, path, request, fn, summary, needs, since, parse, inline))
            return fn

        return register

    def on_loop(self, handler: Callable[..., Any]):
        """Declare the coroutine below as the ``on_loop`` counterpart of ``handler``'s endpoint."""

        def register(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            (i,) = [i for i, ep in enumerate(self.endpoints) if ep.handler is handler]
            self.endpoints[i] = replace(self.endpoints[i], on_loop=fn)
            return fn

        return register

    def get(self, path: str, request: type[Message] = Empty, **kw):
        return self.route("GET", path, request, **kw)

    def post(self, path: str, request: type[Message] = Empty, **kw):
        return self.route("POST", path, request, **kw)

    def patch(self, path: str, request: type[Message] = Empty, **kw):
        return self.route("PATCH", path, request, **kw)

    def delete(self, path: str, request: type[Message] = Empty, **kw):
        return self.route("DELETE", path, request, **kw)


def _list_fields(model: type[Message]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        origin = typing.get_origin(info.annotation)
        args = typing.get_args(info.annotation)
        if origin is list or any(typing.get_origin(a) is list for a in args):
            names.add(name)
            names.add(to_camel(name))
    return names


async def receive_body_json(scope: Scope, receive: Receive, limit: int) -> dict:
    """The request's JSON body, read from the raw ASGI ``scope`` and ``receive`` (no ``Request``
    object: the API's endpoints are plain ASGI apps), at most ``limit`` bytes; NULs in the query
    string or path parameters refused. A client gone before the body arrived raises Starlette's
    ``ClientDisconnect``."""
    if scope["query_string"] or scope.get("path_params"):
        check_strings(Request(scope))
    content_type = ""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
            break
    message = await receive()
    body = message.get("body", b"")
    if message.get("more_body"):
        body = bytearray(body)
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body += message.get("body", b"")
            if len(body) > limit:
                raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    elif message["type"] == "http.disconnect":
        raise ClientDisconnect()
    if len(body) > limit:
        raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    return decode_body(body, content_type)


def decode_body(body: bytes | bytearray, content_type: str) -> dict:
    """A request body as the JSON object it must be (empty: ``{}``)."""
    if not body.strip():
        return {}
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest(
            f"Bad Content-Type {content_type[:100]!r}: requests with a body must be sent as application/json"
        )
    try:
        data = orjson.loads(body)
        if isinstance(data, str):  # double-encoded, as some clients send
            data = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON in request body: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    if b"\\u0000" in body:  # the only way a NUL reaches a decoded string (a raw one is not JSON)
        _refuse_nul_inside(data)
    return data


def _refuse_nul_inside(data: Any) -> None:
    """Raise naming the first field (``tags.0.value``) of ``data`` holding a NUL, in a value or a key."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, where = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and NUL in key:
                raise nul_refused(where or "body")
            if isinstance(value, str):
                if NUL in value:
                    raise nul_refused(path)
            elif isinstance(value, (dict, list)):
                stack.append((value, path))


def check_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise if ``data`` nests objects and arrays deeper than ``limit`` levels (``data`` is level 1)."""
    level, current = 1, [data]
    while True:
        inner = []
        for node in current:
            for value in node.values() if type(node) is dict else node:
                if type(value) is dict or type(value) is list:
                    inner.append(value)
        if not inner:
            return
        level += 1
        if level > limit:
            raise BadRequest(f"The request body is nested deeper than {limit} levels")
        current = inner


def query_dict(request: Request, model: type[Message]) -> dict:
    lists = _list_fields(model)
    out: dict[str, Any] = {}
    check_strings(request)
    for key, value in request.query_params.multi_items():
        if key in lists:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


def parse_message(data: dict, model: type[Message], path_params: dict | None = None) -> Message:
    check_depth(data)
    if path_params:
        data = {**data, **path_params}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameterValue(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """MLflow's messages (``modelyard.validation``'s builders): the parameter's path (``tags.0.key``),
    the value quoted as JSON, then MLflow's hint to the docs."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "missing":
            parts.append(missing_value(where))
        else:
            parts.append(invalid_value(where, err.get("input"), f"{err['msg']}."))
    return " ".join(parts) + API_DOCS_HINT


def encode(payload: Any) -> bytes:
    return orjson.dumps(payload if payload is not None else {})
