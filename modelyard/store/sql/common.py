"""Small pieces every SQL domain store shares: times, URIs, page offsets."""

from __future__ import annotations

import time

from modelyard.exceptions import InvalidParameterValue


def now_ms() -> int:
    return int(time.time() * 1000)


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def offset_from_token(token: dict | None) -> int:
    if not token:
        return 0
    offset = token.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterValue("Invalid page token: bad offset")
    return offset
