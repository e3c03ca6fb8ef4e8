"""Optional bearer-token authentication of a scoring server: every route but the public ones
(liveness and readiness: ``/ping``, ``/health``, OIP's ``/v2/health/*``, as the routes declare)
needs ``Authorization: Bearer <token>`` with one of the accepted tokens; anything else is a 401
with ``WWW-Authenticate: Bearer`` in MLflow's JSON error shape.

Two sources of tokens, either or both: a static list (``--auth-tokens-file``, compared as SHA-256
digests in constant time), and the API tokens of a tracking database's auth store
(``--auth-store URI``, ``StoreTokens``): active and unrevoked, their scopes allowing models at USE
(READ for a GET), and their user allowed to USE each registry model the server serves (a grant, the
server's default permission, or admin). A revocation, a changed grant or a deleted user takes effect
at the next request (the store's credentials generation, as in the tracking server's workers)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"error_code": "UNAUTHENTICATED", "message": "A valid bearer token is required"}'
_DENIED = b'{"error_code": "PERMISSION_DENIED", "message": "This token may not use the served models"}'


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class StoreTokens:
    """The API tokens of the auth store in the tracking database at ``uri``."""

    def __init__(self, uri: str, registry_models: Iterable[str], default_permission: str = "READ") -> None:
        from modelyard.auth.config import AuthConfig
        from modelyard.auth.runtime import open_service
        from modelyard.workers import Worker

        config = AuthConfig(default_permission=default_permission)
        self.default = config.default_level
        self.models = tuple(registry_models)
        self.service, self._close = open_service(uri, config)
        # the tokens' last-used times, written every second as the tracking server does
        self._flusher = Worker("modelyard-scoring-auth", self.service.flush, interval=1.0)
        self._flusher.start()

    def allows(self, secret: str, method: str) -> bool | None:
        """True: the token may; False: a valid token that may not (403); None: no such token (401)."""
        from modelyard.auth.authenticators import user_principal
        from modelyard.auth.authorizer import principal_level
        from modelyard.auth.levels import Level, scope_cap

        found = self.service.authenticate_token(secret)
        if found is None:
            return None
        principal = user_principal(found[1], "token", found[0])
        need = Level.READ if method in ("GET", "HEAD") else Level.USE
        if scope_cap(principal.scopes, "registered_model") < need:
            return False
        return all(
            principal_level(self.service, principal, "registered_model", name, self.default) >= need
            for name in self.models
        )

    def close(self) -> None:
        self._flusher.stop()
        self._close()


class BearerTokenGuard:
    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[str],
        public_paths: Iterable[str],
        store: StoreTokens | None = None,
    ) -> None:
        self.app = app
        self.digests = [_digest(t) for t in tokens if t]
        self.public = frozenset(public_paths)
        self.store = store

    def allowed(self, authorization: str | None, method: str = "POST") -> bool | None:
        """True: let it through; False: a known token without the permission; None: no valid token."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or len(value) > 4096:
            return None
        given = _digest(value)
        if any(hmac.compare_digest(given, d) for d in self.digests):
            return True
        return self.store.allows(value, method) if self.store is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        allowed = await self._allowed(scope)
        if allowed:
            await self.app(scope, receive, send)
            return
        body, status = (_DENIED, 403) if allowed is False else (_BODY, 401)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="modelyard-serving"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _allowed(self, scope: Scope) -> bool | None:
        authorization = Headers(scope=scope).get("authorization")
        if self.store is None:
            return self.allowed(authorization, scope["method"])
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.allowed, authorization, scope["method"])  # reads the database
