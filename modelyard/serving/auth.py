"""Optional bearer-token authentication of a scoring server: every route but the public ones
(liveness and readiness: ``/ping``, ``/health``, OIP's ``/v2/health/*``, as the routes declare)
needs ``Authorization: Bearer <token>`` with one of the configured tokens; anything else is a 401
with ``WWW-Authenticate: Bearer`` in MLflow's JSON error shape. Tokens are compared as SHA-256
digests in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"error_code": "UNAUTHENTICATED", "message": "A valid bearer token is required"}'


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class BearerTokenGuard:
    def __init__(self, app: ASGIApp, tokens: Iterable[str], public_paths: Iterable[str]) -> None:
        self.app = app
        self.digests = [_digest(t) for t in tokens if t]
        self.public = frozenset(public_paths)

    def allowed(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        given = _digest(value.strip())
        return any(hmac.compare_digest(given, d) for d in self.digests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        if not self.allowed(Headers(scope=scope).get("authorization")):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_BODY)).encode()),
                        (b"www-authenticate", b'Bearer realm="modelyard-serving"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)
