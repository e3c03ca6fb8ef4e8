"""``create_app(settings)``: the tracking server as an ASGI app (Starlette, run by uvicorn).

One route module per resource (``routes/``); each declares its endpoints once in a
RouteTable and is mounted under ``/api/<major>.0`` and ``/ajax-api/<major>.0`` as MLflow does.
Every request passes ``RequestContextMiddleware`` (its principal is resolved once); every endpoint
declares the permission it needs and is checked through the app's authorizer before its handler
runs; a handler calls one service method with the request's context. Every error becomes MLflow's
JSON error body (``modelyard.web.errors``); nothing ever answers with a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router, compile_path

from modelyard.auth.config import AuthConfig, auth_config
from modelyard.auth.permissions import PUBLIC, AllowAll, Authorizer, check
from modelyard.exceptions import EndpointNotFound, ModelyardError
from modelyard.server import protocol
from modelyard.server import routes as route_modules
from modelyard.server.security import CorsMiddleware, SecurityMiddleware, cors_kwargs
from modelyard.server.services import Services
from modelyard.settings import Settings
from modelyard.store.sql.database import WouldWait
from modelyard.tracking.loop_writes import DECLINED
from modelyard.web.errors import json_error
from modelyard.web.headers import SecurityHeadersMiddleware
from modelyard.web.middleware import SCOPE_KEY, RequestContextMiddleware, context_of
from modelyard.web.routing import declare

logger = logging.getLogger(__name__)


def json_response(payload, status: int = 200) -> Response:
    return Response(protocol.encode(payload), status_code=status, media_type="application/json")


_JSON_HEAD = (b"content-type", b"application/json")


class _Endpoint:
    """One API endpoint as a plain ASGI app (what its routes run, not a Starlette ``Request``
    handler): the body is read from ``receive``, the answer sent as one start and one body message.
    Every API call passes here, so it does only what the call needs: no ``Request`` or ``Response``
    object on the way of a successful JSON answer, and no second layer of exception handlers (the
    app's own catch what escapes, as for every route)."""

    def __init__(self, ep: protocol.Endpoint, services: Services) -> None:
        self.__name__ = ep.handler.__name__
        self.limit = services.settings.server.max_json_body_bytes
        self.parse = ep.parse or partial(protocol.parse_message, model=ep.request)
        self.permission, self.handler, self.request_model = ep.permission, ep.handler, ep.request
        self.services = services
        self.offload = services.offload.run
        # a cheap handler runs on the event loop only where the database never makes it wait (SQLite,
        # inside Database.nowait(): a write that would wait raises WouldWait before writing anything,
        # and the handler runs again on a thread); every other handler, and every handler on
        # PostgreSQL or MySQL (a network round trip, maybe a row lock), runs on the server's threads
        self.inline = ep.inline
        # PostgreSQL's hot writes (log-metric, log-batch, runs/update, ...) are awaited on the event loop
        # through psycopg's async driver when the permission check is free (no authentication: it may
        # read the database otherwise); a request the endpoint declines goes to the threads
        self.on_loop = ep.on_loop

    async def __call__(self, scope, receive, send) -> None:
        services, permission, handler = self.services, self.permission, self.handler
        try:
            # who asks is settled before the request is read: an anonymous caller learns nothing of
            # what the endpoint expects (authorizers that authenticate have ``authenticate``)
            # (the middleware resolved the principal on a thread: this only reads it)
            authorizer = scope["app"].state.authorizer
            ctx = scope.get(SCOPE_KEY)
            if ctx is None:  # an app assembled without the context middleware (a test's bare router)
                ctx = context_of(Request(scope))
            authenticate = getattr(authorizer, "authenticate", None)
            if authenticate is not None and permission.resource != PUBLIC:
                authenticate(ctx)
            if scope["method"] == "GET":
                data = protocol.query_dict(Request(scope), self.request_model)
            else:
                data = await protocol.receive_body_json(scope, receive, self.limit)
            msg = self.parse(data, path_params=scope.get("path_params"))
            inline_db = services.inline_database() if self.inline else None
            on_loop = self.on_loop
            if on_loop is not None and services.loop_writes is not None and isinstance(authorizer, AllowAll):
                check(authorizer, ctx, permission, msg)
                result = await on_loop(services, msg, ctx)
                if result is DECLINED:
                    result = await self.offload(handler, services, msg, ctx)
            elif inline_db is None:
                # the permission check may read the database too (grants, a run's experiment):
                # it runs on the handler's thread, with the handler
                result = await self.offload(_checked, authorizer, permission, handler, services, msg, ctx)
            else:
                check(authorizer, ctx, permission, msg)
                try:
                    with inline_db.nowait():
                        result = handler(services, msg, ctx)
                except WouldWait:
                    result = await self.offload(handler, services, msg, ctx)
        except ModelyardError as exc:
            result = json_error(exc)
        if isinstance(result, Response):
            await result(scope, receive, send)
            return
        body = protocol.encode(result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body)), _JSON_HEAD],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _checked(authorizer: Authorizer, permission, handler, services: Services, msg, ctx) -> Any:
    """The permission check, then the handler (one call on a handler thread)."""
    check(authorizer, ctx, permission, msg)
    return handler(services, msg, ctx)


API_PREFIXES = ("/api", "/ajax-api")


def _api_path(prefix: str, ep: protocol.Endpoint) -> str:
    return f"{prefix}/{ep.since}.0{ep.path}"


def build_routes(services: Services) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for module in route_modules.load():
        if hasattr(module, "extra_routes"):
            routes.extend(module.extra_routes(services))
        table: protocol.RouteTable | None = getattr(module, "table", None)
        for ep in table.endpoints if table else ():
            handler = _Endpoint(ep, services)
            for prefix in API_PREFIXES:
                route = Route(_api_path(prefix, ep), handler, methods=[ep.method])
                routes.append(declare(route, ep.permission))
    return routes


def compile_api_paths() -> None:
    """Compile the API routes' path patterns ahead of ``build_routes``, in the process that forks the
    workers (``modelyard server``): Starlette compiles one regular expression per ``Route`` (about 250
    of them, two thirds of a worker's ``create_app``), and ``re``'s cache of compiled patterns (512),
    inherited by every forked worker, then answers them there at once."""
    for module in route_modules.load():
        table: protocol.RouteTable | None = getattr(module, "table", None)
        for ep in table.endpoints if table else ():
            for prefix in API_PREFIXES:
                compile_path(_api_path(prefix, ep))


class ExactRouter(Router):
    """Starlette's router, plus one dictionary lookup for the API's fixed paths.

    Starlette tries its routes in order with one regular expression each: over a hundred
    before the later endpoints match. The API's endpoints without path parameters are looked
    up by ``(method, path)`` first. A path with parameters (an artifact's, a model version's)
    is tried only against the routes whose literal start (the pattern before its first
    ``{``) it begins with, in the routes' order: the first full match there is the first full
    match of the whole scan, since no other route can match that path. Those routes are found
    through the path's own prefixes that end in ``/``: each literal start is filed under its part
    up to its last ``/`` (its anchor), which every path beginning with that start begins with, so
    a request looks up a few prefixes instead of testing every route's start. Everything else
    (HEAD to a fixed path, 405s, 404s, redirects) goes through the routes exactly as before.
    """

    def __init__(self, base: Router) -> None:
        self.__dict__.update(base.__dict__)
        self.middleware_stack = self.app
        self.exact: dict[tuple[str, str], Any] = {}
        for route in reversed(self.routes):  # reversed: the first declared route wins, as in the scan
            if isinstance(route, Route) and not route.param_convertors and route.methods:
                for method in route.methods - {"HEAD"}:
                    self.exact[(method, route.path)] = (route.app, route.endpoint)
        # every route by its literal start's anchor: (its place in the routes, literal start, route)
        self.anchored: dict[str, list[tuple[int, str, BaseRoute]]] = {}
        for place, route in enumerate(self.routes):
            start = getattr(route, "path", "").split("{", 1)[0]  # "" (no path) begins every path
            self.anchored.setdefault(start[: start.rfind("/") + 1], []).append((place, start, route))

    async def app(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            found = self.exact.get((scope["method"], path))
            if found is not None:
                scope.setdefault("router", self)
                scope["endpoint"], scope["path_params"] = found[1], {}
                await found[0](scope, receive, send)
                return
            for _, _, route in self.candidates(path):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)

    def candidates(self, path: str) -> list[tuple[int, str, BaseRoute]]:
        """The routes whose literal start ``path`` begins with, in the routes' order."""
        anchored = self.anchored
        found = [entry for entry in anchored.get("", ()) if path.startswith(entry[1])]
        end = path.find("/")
        while end >= 0:
            for entry in anchored.get(path[: end + 1], ()):
                if path.startswith(entry[1]):
                    found.append(entry)
            end = path.find("/", end + 1)
        found.sort()  # by place: places are unique, so the routes themselves are never compared
        return found


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return json_error(EndpointNotFound(f"No API endpoint at {request.method} {request.url.path}"))
    if exc.status_code == 405:
        err = ModelyardError(
            f"Method {request.method} is not allowed on {request.url.path}", error_code="BAD_REQUEST"
        )
        return json_error(err, status=405)
    return json_error(ModelyardError(str(exc.detail), error_code="BAD_REQUEST"), status=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return json_error(exc)


def _lifespan(services: Services):
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        services.start()  # the background workers run while the app does, never before
        try:
            yield
        finally:
            await services.close_loop_writes()
            services.close()

    return lifespan


def create_app(
    settings: Settings,
    services: Services | None = None,
    authorizer: Authorizer | None = None,
    auth: AuthConfig | None = None,
) -> Starlette:
    """The tracking server's app for ``settings`` (passed by the CLI or the caller; never read here);
    ``authorizer`` is what every route's permission is checked with (allow-all by default, the
    permission authorizer when authentication is on: ``auth``, else ``settings.auth``)."""
    services = services or Services.from_settings(settings)
    auth = auth or auth_config(settings)
    runtime = None
    if auth.enabled:  # imported only then: the 'auth' extra's libraries
        from modelyard.auth.runtime import build as build_auth
        from modelyard.web.auth_guard import AuthGuard

        runtime = build_auth(auth, services)
    app = Starlette(
        routes=build_routes(services),
        middleware=[
            Middleware(SecurityHeadersMiddleware),  # outermost: every answer carries them
            Middleware(SecurityMiddleware, settings=settings),
            Middleware(CorsMiddleware, **cors_kwargs(settings)),
            Middleware(
                RequestContextMiddleware,
                settings=settings,
                authenticators=runtime.authenticators if runtime else None,
                access=runtime.access if runtime else None,
                offload=services.offload.run,
            ),
            *([Middleware(AuthGuard, runtime=runtime)] if runtime else []),
        ],
        exception_handlers={
            HTTPException: _http_error,
            ModelyardError: lambda r, e: json_error(e),
            Exception: _unexpected,
        },
        lifespan=_lifespan(services),
    )
    app.router = ExactRouter(app.router)
    app.state.services = services
    app.state.authorizer = authorizer or (runtime.authorizer if runtime else AllowAll())
    return app
