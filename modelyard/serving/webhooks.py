"""Checking a registry webhook delivery sent to the scoring server.

Deliveries are signed as MLflow 3 signs them (``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret,
"<delivery id>.<timestamp>.<body>")>``); the check is the registry's own ``verify_signature``
(constant-time compare, timestamps older than five minutes refused against replays).
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_AGE_S = 300.0


def verify(secret: str, headers: Mapping[str, str], body: bytes, max_age_s: float = MAX_AGE_S) -> bool:
    """True when ``body`` carries a valid, recent signature made with ``secret``."""
    from modelyard.registry.delivery import verify_signature

    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return verify_signature(secret, dict(headers.items()), payload, max_age_s)
