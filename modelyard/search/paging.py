"""Page tokens: opaque, signed, bound to the query that issued them. The one token module.

A token is ``<payload>.<mac>``: the payload a compact JSON object (URL-safe base64), the mac the
first 128 bits of its HMAC-SHA256 under this process's key, taken over the payload *and* a
fingerprint of the query (``query``: the filter, order, experiment ids, ... of the search). So a
client can neither edit a token (the offset it carries, say) nor replay one against another search:
both are refused with INVALID_PARAMETER_VALUE, as is any token that does not decode, and any
offset outside ``0 .. MAX_OFFSET``. Clients pass tokens through unchanged (MLflow's clients do), so
nothing outside the server ever reads them.

The key: ``use_secret(settings.server.page_token_secret)`` when the server is configured with one
(``modelyard server`` makes one up for its workers when none is set, so every worker accepts every
other's tokens); otherwise a random key made when this module is imported (an embedded client's
store reads back only its own tokens). A token therefore stops working when the server restarts
without a configured secret: the client starts the search again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from modelyard.exceptions import InvalidParameterValue

MAX_TOKEN_LENGTH = 4096
MAX_OFFSET = 2**31 - 1  # far beyond any result set; and every database takes it as an OFFSET
_MAC_BYTES = 16
_key: bytes = secrets.token_bytes(32)


def use_secret(secret: str | bytes | None) -> None:
    """Sign and check tokens with ``secret`` (the server's configured one); None keeps the current key."""
    global _key
    if secret:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        _key = hashlib.sha256(b"modelyard page tokens\0" + raw).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: str, query: Any) -> bytes:
    bound = payload if query is None else payload + "\0" + json.dumps(query, sort_keys=True, default=str)
    return hmac.new(_key, bound.encode("utf-8"), hashlib.sha256).digest()[:_MAC_BYTES]


def encode_page_token(payload: dict[str, Any], *, query: Any = None) -> str:
    """A signed token carrying ``payload``, valid only for the search ``query`` describes."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{body}.{_b64(_mac(body, query))}"


def decode_page_token(token: str | None, *, query: Any = None) -> dict[str, Any]:
    """The payload of ``token``; ``None`` or ``""`` (the first page) decode to ``{}``.

    Anything but a token this server issued for this same ``query`` raises InvalidParameterValue.
    """
    if not token:
        return {}
    if not isinstance(token, str):
        raise InvalidParameterValue(f"Invalid page token of type {type(token).__name__}: expected a string")
    shown = repr(token if len(token) <= 64 else token[:64] + "...")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidParameterValue(f"Invalid page token {shown}: too long")
    body, dot, mac = token.partition(".")
    try:
        given = _unb64(mac) if dot else b""
    except (binascii.Error, ValueError):
        given = b""
    if len(given) != _MAC_BYTES or not hmac.compare_digest(given, _mac(body, query)):
        raise InvalidParameterValue(
            f"Invalid page token {shown}: not issued by this server for this search "
            "(tokens are only valid for the query that returned them, until the server restarts)"
        )
    try:
        payload = json.loads(_unb64(body).decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError) as exc:  # only if our own key signed garbage
        raise InvalidParameterValue(f"Invalid page token {shown}: could not decode it") from exc
    if not isinstance(payload, dict):
        raise InvalidParameterValue(f"Invalid page token {shown}: not a token issued by this server")
    return payload


def page_offset(token: str | None, *, query: Any = None) -> int:
    """Where the page ``token`` asks for starts (0 for the first page), checked to be in range."""
    return token_int(decode_page_token(token, query=query), "offset")


def token_int(payload: dict[str, Any], field: str, default: int = 0) -> int:
    """An integer field of a decoded token, in ``0 .. MAX_OFFSET``."""
    value = payload.get(field, default)
    if type(value) is not int or not 0 <= value <= MAX_OFFSET:
        raise InvalidParameterValue(f"Invalid page token: bad {field}")
    return value


def runs_query(experiment_ids, stages, filter_string: str | None, order_by) -> tuple:
    """What a runs search's tokens are bound to (the store issues them, the UI's pager builds its
    "previous page" link with it)."""
    return ("runs", [str(e) for e in experiment_ids], list(stages), filter_string, list(order_by or ()))


def offset_token(offset: int, *, query: Any = None) -> str:
    """The token of the page that starts at ``offset`` of the search ``query`` describes."""
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameterValue(f"Page offset {offset} is out of range")
    return encode_page_token({"offset": offset}, query=query)
