"""Sign-in and sign-out, "my tokens", and the admin pages (users, permissions, audit log).

Served only when authentication is on. Forms post back to their own page as
``application/x-www-form-urlencoded`` with the session's ``csrf_token`` (checked once for every
route by ``modelyard.web.auth_guard``); the sign-in form itself is protected by the Origin check of
``SecurityMiddleware`` and the SameSite cookie."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from modelyard.auth.permissions import AUDIT, GRANT, MANAGE, READ, SERVER, USER, needs, public
from modelyard.auth.sessions import COOKIE
from modelyard.exceptions import ModelyardError
from modelyard.ui.templating import Crumb, error_page, render
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorize, authorized, route

MAX_FORM = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never ``//host`` or ``https://...``): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/experiments"


def routes(services) -> list[BaseRoute]:
    runtime = services.auth
    if runtime is None:
        return []
    auth = runtime.auth

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return render(
                request,
                "account/signin.html",
                [Crumb("Sign in")],
                next=_safe_next(request.query_params.get("next")),
                error=None,
                oidc=bool(runtime.config.oidc_discovery_url),
            )
        form = await _form(request)
        username, password = form.get("username", ""), form.get("password", "")
        address = request.client.host if request.client else ""
        user = (
            await run_in_threadpool(auth.authenticate_password, username, password, address)
            if username
            else None
        )
        if user is None:
            return render(
                request,
                "account/signin.html",
                [Crumb("Sign in")],
                status=401,
                next=_safe_next(form.get("next")),
                error="Wrong user name or password (or too many attempts: wait a few minutes).",
                oidc=bool(runtime.config.oidc_discovery_url),
            )
        return signed_in(request, user.username, "session", form.get("next"))

    def signed_in(request: Request, username: str, method: str, target: str | None) -> Response:
        value, _csrf = runtime.sessions.issue(username, method)
        response = RedirectResponse(_safe_next(target), status_code=303)
        response.set_cookie(
            COOKIE,
            value,
            max_age=runtime.config.session_max_age,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def signout(request: Request) -> Response:
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def page(handler, permission):
        async def endpoint(request: Request) -> Response:
            try:
                await authorized(request, permission)
                ctx = context_of(request)
                form = await _form(request) if request.method == "POST" else {}
                return await run_in_threadpool(handler, request, ctx, form)
            except ModelyardError as exc:
                return error_page(request, exc)

        endpoint.__name__ = handler.__name__
        return endpoint

    def tokens_page(request, ctx, form):
        secret = None
        if form.get("action") == "create":
            secret, _token = auth.create_token(
                ctx, form.get("name", ""), form.get("scopes") or None, form.get("expires_in") or None
            )
        elif form.get("action") == "revoke":
            auth.revoke_token(ctx, form.get("token_id", ""))
        return render(
            request,
            "account/tokens.html",
            [Crumb("My tokens")],
            section="",
            tokens=auth.list_tokens(ctx),
            secret=secret,
        )

    def users_page(request, ctx, form):
        if form.get("action") == "create":
            auth.create_user(
                ctx, form.get("username", ""), form.get("password", ""), form.get("is_admin") == "on"
            )
        elif form.get("action") == "delete":
            auth.delete_user(ctx, form.get("username", ""))
        elif form.get("action") == "admin":
            auth.update_admin(ctx, form.get("username", ""), form.get("is_admin") == "true")
        return render(
            request,
            "account/users.html",
            [Crumb("Users")],
            section="",
            users=auth.list_users(ctx),
            tokens=auth.list_tokens(ctx, all_users=True),
        )

    def permissions_page(request, ctx, form):
        kind = form.get("kind") or request.query_params.get("kind") or "experiment"
        resource = form.get("resource_id") or request.query_params.get("resource_id") or ""
        if resource:
            authorize(request, needs(GRANT, MANAGE, lambda _r: f"{kind}:{resource}"))
        if form.get("action") == "grant":
            auth.grant(ctx, kind, resource, form.get("username", ""), form.get("permission", ""))
        elif form.get("action") == "revoke":
            auth.revoke(ctx, kind, resource, form.get("username", ""))
        grants = auth.grants_on(ctx, kind, resource) if resource else []
        return render(
            request,
            "account/permissions.html",
            [Crumb("Permissions")],
            section="",
            kind=kind,
            resource_id=resource,
            grants=grants,
            levels=["NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"],
        )

    def audit_page(request, ctx, form):
        q = request.query_params
        since = q.get("since")
        entries = auth.list_audit(
            ctx,
            username=q.get("user") or None,
            resource=q.get("resource") or None,
            since=int(since) if since and since.isdigit() else None,
            limit=200,
        )
        return render(
            request,
            "account/audit.html",
            [Crumb("Audit log")],
            section="",
            entries=entries,
            user=q.get("user", ""),
            resource=q.get("resource", ""),
        )

    both = ["GET", "POST"]
    return [
        route("/signin", signin, methods=both, needs=public()),
        route("/signout", signout, methods=["POST"], needs=needs(SERVER, READ)),
        route(
            "/account/tokens", page(tokens_page, needs(SERVER, READ)), methods=both, needs=needs(SERVER, READ)
        ),
        route("/admin/users", page(users_page, needs(USER, MANAGE)), methods=both, needs=needs(USER, MANAGE)),
        route(
            "/admin/permissions",
            page(permissions_page, needs(SERVER, READ)),
            methods=both,
            needs=needs(SERVER, READ),
        ),
        route(
            "/admin/audit", page(audit_page, needs(AUDIT, READ)), methods=["GET"], needs=needs(AUDIT, READ)
        ),
        *_oidc_routes(runtime, signed_in),
    ]


def _oidc_routes(runtime, signed_in) -> list[BaseRoute]:
    if not runtime.config.oidc_discovery_url:
        return []
    from modelyard.ui.pages.oidc_signin import oidc_routes

    return oidc_routes(runtime, signed_in)
