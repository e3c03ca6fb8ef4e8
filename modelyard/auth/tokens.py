"""API token secrets: ``myt_`` and 40 random characters, shown once; only a SHA-256 is stored (the
secret has 238 bits of entropy, so a fast hash is enough and keeps each request's check cheap)."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "myt_"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(30)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and 10 < len(value) < 200


def parse_duration(text: str | None) -> int | None:
    """Seconds of ``"30d"``, ``"12h"``, ``"90"`` (days); None for no expiry."""
    from modelyard.exceptions import InvalidParameterValue

    if text in (None, "", "never", "0"):
        return None
    match = _DURATION.match(str(text))
    if not match:
        raise InvalidParameterValue(f"Invalid expiry {text!r}: use a number with s, m, h, d or w (30d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
