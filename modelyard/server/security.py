"""ASGI middleware: Host allow-list (DNS rebinding), Origin checks (CSRF). The security headers of
every response are ``modelyard.web.headers``'.

Plain ASGI (no BaseHTTPMiddleware) so that bodies stream through untouched.
"""

from __future__ import annotations

import fnmatch
import os
import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.settings import Settings

_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
_DEFAULT_ORIGINS = (r"https?://localhost(:\d+)?", r"https?://127\.0\.0\.1(:\d+)?", r"https?://\[::1\](:\d+)?")
_SAFE_METHODS = {b"GET", b"HEAD", b"OPTIONS"}


def allowed_host_patterns(settings: Settings) -> list[str] | None:
    """Glob patterns for the Host header (port stripped), or None for "any host"."""
    if settings.server.allowed_hosts:
        items = [h.strip().lower() for h in settings.server.allowed_hosts.split(",") if h.strip()]
        return None if "*" in items else items
    return [*_DEFAULT_HOSTS, settings.server.host.lower()]


def origin_regex(settings: Settings) -> str | None:
    if settings.server.cors_allowed_origins:
        items = [o.strip() for o in settings.server.cors_allowed_origins.split(",") if o.strip()]
        if "*" in items:
            return None
        return "|".join(re.escape(o).replace(r"\*", ".*") for o in items)
    return "|".join(_DEFAULT_ORIGINS)


def _host_only(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


_HOSTS_REMEMBERED = 64  # Host header values whose verdict is kept (clients send one or two)


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = allowed_host_patterns(settings)
        # the patterns as one expression (fnmatch's matching, without a call per pattern per request)
        self.host_re = (
            re.compile("|".join(fnmatch.translate(os.path.normcase(p)) for p in self.hosts))
            if self.hosts
            else None
        )
        regex = origin_regex(settings)
        self.origin = re.compile(regex) if regex else None
        self._verdicts: dict[bytes, bool] = {}  # Host header -> allowed

    def host_allowed(self, host: bytes) -> bool:
        if self.hosts is None:
            return True
        verdict = self._verdicts.get(host)
        if verdict is None:
            name = os.path.normcase(_host_only(host.decode("latin-1")))
            verdict = self.host_re is not None and self.host_re.match(name) is not None
            if len(self._verdicts) < _HOSTS_REMEMBERED:  # bounded: a scan of made-up hosts fills nothing
                self._verdicts[host] = verdict
        return verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not self.host_allowed(headers.get(b"host", b"")):
            await _plain(send, 403, b"Invalid Host header: the server does not answer for this host name.")
            return
        origin = headers.get(b"origin")
        if (
            origin is not None
            and self.origin is not None
            and scope["method"].encode() not in _SAFE_METHODS
            and not self.origin.fullmatch(origin.decode("latin-1"))
        ):
            await _plain(send, 403, b"Cross-origin request refused: this Origin is not allowed.")
            return
        await self.app(scope, receive, send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a short way for a request without an ``Origin`` header (what
    API clients send): its answer only gains ``Vary: Origin``, exactly as Starlette's path would add
    it, without Starlette's header objects built around every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_vary_origin(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_vary)


def with_vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Origin`` added to ``Vary``: one Vary header where the first one was, its
    values joined (what Starlette's ``MutableHeaders`` does), else a new one at the end."""
    at = [i for i, (name, _) in enumerate(headers) if name.lower() == b"vary"]
    if not at:
        return [*headers, (b"vary", b"Origin")]
    value = b", ".join([*(headers[i][1] for i in at), b"Origin"])
    out = [h for i, h in enumerate(headers) if i not in at[1:]]
    out[at[0]] = (b"vary", value)
    return out


def cors_kwargs(settings: Settings) -> dict:
    regex = origin_regex(settings)
    if regex is None:
        return {"allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"]}
    return {
        "allow_origin_regex": regex,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "allow_credentials": True,
    }
