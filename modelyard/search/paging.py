"""Opaque page tokens: a JSON object, URL-safe base64 encoded.

Clients must treat tokens as opaque; only the store that issued one reads it back. Decoding also
accepts standard base64 and missing padding, so MLflow's own ``{"offset": n}`` tokens decode.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from modelyard.exceptions import InvalidParameterValue

_MAX_TOKEN_LENGTH = 4096


def encode_page_token(payload: dict[str, Any]) -> str:
    """``{"offset": 100}`` -> ``"eyJvZmZzZXQiOjEwMH0"`` (no padding, URL-safe alphabet)."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str | None) -> dict[str, Any]:
    """The payload of ``token``; ``None`` or ``""`` (the first page) decode to ``{}``.

    A token that is not base64 of a JSON object raises ``InvalidParameterValue``.
    """
    if not token:
        return {}
    if not isinstance(token, str):
        raise InvalidParameterValue(f"Invalid page token {token!r}: not a string")
    shown = token if len(token) <= 64 else token[:64] + "..."
    if len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidParameterValue(f"Invalid page token {shown!r}: too long")
    text = token.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise InvalidParameterValue(f"Invalid page token {shown!r}: could not decode it") from exc
    if not isinstance(payload, dict):
        raise InvalidParameterValue(f"Invalid page token {shown!r}: not a token issued by this server")
    return payload
