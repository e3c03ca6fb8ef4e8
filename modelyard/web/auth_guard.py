"""What authentication adds around every route of a server (installed only when it is on):

- CSRF: a state-changing request signed in by the UI's session cookie must carry the session's
  CSRF token (``X-CSRF-Token`` header, or the ``csrf_token`` field of a form); API clients that send
  credentials in the Authorization header are not CSRF targets and are not asked for one;
- a 401 carries ``WWW-Authenticate: Basic`` (so the mlflow client and browsers know to send
  credentials), or becomes a redirect to the sign-in page for a browser asking for a page; the
  sign-in form's own 401 (a wrong password) carries none, so no browser opens its Basic dialog;
- every state-changing request is appended to the audit log: who (and how they signed in), what
  (method and path, the resource the authorizer checked), the answer's status, when, from which
  address, under which request id.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.auth.sessions import CSRF_FIELD, CSRF_HEADER, csrf_matches
from modelyard.entities.auth import AuditEntry
from modelyard.store.auth.sql import now_ms
from modelyard.web.middleware import SCOPE_KEY

SAFE = {"GET", "HEAD", "OPTIONS"}
CHALLENGE = (b"www-authenticate", b'Basic realm="modelyard"')
SIGNIN = "/signin"
MAX_FORM = 1024 * 1024
_API_PREFIXES = ("/api/", "/ajax-api/", "/mlflow-artifacts", "/get-artifact", "/model-versions/get-artifact")


class AuthGuard:
    def __init__(self, app: ASGIApp, runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        ctx = scope.get(SCOPE_KEY)
        principal = ctx.principal if ctx is not None else None
        headers = Headers(scope=scope)
        if method not in SAFE and principal is not None and principal.method in ("session", "oidc"):
            expected = principal.csrf
            given = headers.get(CSRF_HEADER)
            if given is None and headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                body, receive = await _buffer(receive)
                given = (parse_qs(body.decode("latin-1")).get(CSRF_FIELD) or [None])[0]
            if not csrf_matches(expected, given):
                await _answer(
                    send,
                    403,
                    b'{"error_code": "PERMISSION_DENIED", "message": "CSRF token missing or wrong"}',
                )
                return
        page = (
            method == "GET"
            and not scope["path"].startswith(_API_PREFIXES)
            and "text/html" in headers.get("accept", "")
        )
        status_seen: list[int] = []

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                if message["status"] == 401:
                    if page:
                        target = quote(
                            scope["path"]
                            + (
                                "?" + scope["query_string"].decode("latin-1")
                                if scope.get("query_string")
                                else ""
                            ),
                            safe="",
                        )
                        message = {
                            "type": "http.response.start",
                            "status": 303,
                            "headers": [
                                (b"location", f"/signin?next={target}".encode()),
                                (b"content-length", b"0"),
                            ],
                        }
                        status_seen.append(303)
                    elif scope["path"] != SIGNIN:  # the form's own "wrong password" page: no
                        # challenge, or the browser would answer it with its Basic-auth dialog
                        message["headers"] = [*message.get("headers", []), CHALLENGE]
            elif status_seen and status_seen[-1] == 303 and message["type"] == "http.response.body":
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            if method not in SAFE and ctx is not None:
                self._audit(scope, ctx, method, status_seen[0] if status_seen else 500)

    def _audit(self, scope: Scope, ctx, method: str, status: int) -> None:
        access = ctx.access
        kind, rid = access.resource if access is not None and access.resource else (None, None)
        if isinstance(rid, (list, tuple, set)):
            rid = ",".join(map(str, rid))
        principal = ctx.principal
        how = principal.method if principal.token_id is None else f"token:{principal.token_id}"
        self.runtime.auth.record(
            AuditEntry(
                now_ms(),
                principal.name,
                how,
                f"{method} {scope['path']}",
                status,
                kind,
                None if rid is None else str(rid),
                access.address if access is not None else None,
                ctx.request_id,
            )
        )


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks, more = [], True
    size = 0
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False) and size <= MAX_FORM
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
