"""Small pieces every SQL domain store shares: times, URIs."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


