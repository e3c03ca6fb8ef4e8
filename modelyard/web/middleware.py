"""The request context, resolved once per request for every route of an app.

``RequestContextMiddleware`` runs before routing: it resolves the principal from the headers through
the table of authenticators (``modelyard.auth.authenticators``), takes the request id from
``X-Request-ID`` (or makes one), and puts the ``RequestContext`` in the ASGI scope and in the current
context (handlers run in the thread pool see it too). The API, the artifact proxy, downloads and UI
pages all read it with ``context_of(request)``.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.auth.authenticators import Authenticator, resolve_principal
from modelyard.auth.context import Principal, RequestContext, bind
from modelyard.settings import Settings

SCOPE_KEY = "modelyard.tracking.context"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIds:
    """Request ids of this process: 32 hex digits, a random half drawn once per process (again after
    a fork) and a counter. Unique as ``uuid4().hex`` is, without 16 random bytes from the kernel per
    request (a system call each, on the path of every request)."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._count = itertools.count()

    def next(self) -> str:
        if self._pid != os.getpid():
            self._prefix, self._count, self._pid = os.urandom(8).hex(), itertools.count(), os.getpid()
        return f"{self._prefix}{next(self._count):016x}"


new_request_id = _RequestIds().next


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        authenticators: list[tuple[str, Authenticator]] | None = None,
        access: Callable[[Principal, str], Any] | None = None,
        offload: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.authenticators = authenticators
        self.access = access  # what a principal may see (authentication on), put on the context
        # authentication on: the authenticators read the identity store (and may hash a password),
        # so they run on the server's threads (``Offload.run``), never on the event loop
        self.offload = offload if authenticators is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            given = headers.get("x-request-id", "")
            request_id = given if _REQUEST_ID.fullmatch(given) else new_request_id()
            client = scope.get("client")
            address = client[0] if client else ""
            if self.offload is not None:
                principal, access = await self.offload(self._identify, headers, address)
            else:
                principal, access = self._identify(headers, address)
            ctx = RequestContext(principal, self.settings, request_id, access)
            scope[SCOPE_KEY] = ctx
            bind(ctx)
        await self.app(scope, receive, send)

    def _identify(self, headers: Headers, address: str) -> tuple[Principal, Any]:
        principal = resolve_principal(headers, self.authenticators, address)
        return principal, self.access(principal, address) if self.access is not None else None


def context_of(request: HTTPConnection) -> RequestContext:
    """The request's context (set by the middleware; an anonymous one if the app has none)."""
    ctx = request.scope.get(SCOPE_KEY)
    if ctx is None:  # an app assembled without the middleware (a test's bare router)
        ctx = RequestContext(request_id=uuid.uuid4().hex)
        request.scope[SCOPE_KEY] = ctx
        bind(ctx)
    return ctx
