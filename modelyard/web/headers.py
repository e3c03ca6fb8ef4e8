"""The security headers of every response, in one place (both servers use it).

Every response gets ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``, and a
``Content-Security-Policy`` that forbids framing (``frame-ancestors 'none'``):

* an HTML page: ``page_policy`` -- scripts and styles from the server itself only; the pages' inline
  scripts run because they carry the request's nonce (``csp_nonce``, which the UI's renderer puts in
  its templates); inline styles are allowed (plotly.js writes them); a page that draws WebGL charts
  (plotly's regl compiles shaders with ``Function``) asks for ``'unsafe-eval'`` with ``allow_eval``;
* a response that brings its own policy (artifact downloads: a sandbox) keeps it, with
  ``frame-ancestors 'none'`` added when it lacks one;
* anything else (JSON, files): ``default-src 'none'; frame-ancestors 'none'``.
"""

from __future__ import annotations

import secrets

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "modelyard.csp"
NO_FRAMING = "frame-ancestors 'none'"
DEFAULT_POLICY = f"default-src 'none'; {NO_FRAMING}"
_FIXED = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
_REPLACED = {b"x-content-type-options", b"x-frame-options"}


def page_policy(nonce: str | None, allow_eval: bool = False) -> str:
    """The policy of an HTML page whose inline scripts carry ``nonce``."""
    script = "'self'" + (f" 'nonce-{nonce}'" if nonce else "") + (" 'unsafe-eval'" if allow_eval else "")
    return (
        f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        f"base-uri 'none'; {NO_FRAMING}"
    )


def csp_nonce(request: HTTPConnection, *, allow_eval: bool = False) -> str:
    """The nonce of this request's inline scripts (made on first use); ``allow_eval``: the page needs
    ``'unsafe-eval'`` (WebGL charts)."""
    state = request.scope.setdefault(SCOPE_KEY, {"nonce": secrets.token_urlsafe(16), "eval": False})
    state["eval"] = state["eval"] or allow_eval
    return state["nonce"]


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response (plain ASGI: bodies stream through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(list(message.get("headers", ())), scope.get(SCOPE_KEY))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(headers: list[tuple[bytes, bytes]], page: dict | None) -> list[tuple[bytes, bytes]]:
    policy: bytes | None = None
    html = False
    out = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-security-policy":
            policy = value
            continue
        if lowered in _REPLACED:
            continue
        if lowered == b"content-type" and value.startswith(b"text/html"):
            html = True
        out.append((name, value))
    if policy is None:
        if html:
            text = page_policy(page["nonce"], page["eval"]) if page else page_policy(None)
        else:
            text = DEFAULT_POLICY
        policy = text.encode()
    elif b"frame-ancestors" not in policy:
        policy += b"; " + NO_FRAMING.encode()
    out.append((b"content-security-policy", policy))
    out.extend(_FIXED)
    return out
