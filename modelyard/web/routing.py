"""Routes that say what they need: every route of every app carries a ``Permission``.

API endpoints declare theirs in their ``RouteTable`` entry (``needs=``); other routes (the artifact
proxy, downloads, UI pages, static files) are made with ``route()``/``mount()`` below, which take it
as a required argument. ``authorize(request, permission)`` is the one check, through the app's
authorizer (``request.app.state.authorizer``; everything is allowed when an app has none); it
first refuses a NUL character in the request's query string or path parameters (``check_strings``),
as the API's message parser does for its endpoints.
``declared(app)`` lists every route with its declaration, for the test that fails on a route without.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Mount, Route

from modelyard.auth.permissions import PUBLIC, Permission, check
from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.web.middleware import context_of

PERMISSION_ATTR = "modelyard_permission"
NUL = "\x00"


def nul_refused(where: str) -> InvalidParameterValue:
    """The error for a NUL character in parameter ``where`` (PostgreSQL cannot store one; no name,
    value or path needs one)."""
    shown = where.replace(NUL, "\\u0000")
    return InvalidParameterValue(f"Invalid value for parameter '{shown}': NUL characters (\\u0000) are not allowed.")


def check_strings(request: HTTPConnection) -> None:
    """Raise InvalidParameterValue naming the first query or path parameter holding a NUL."""
    for key, value in request.query_params.multi_items():
        if NUL in value or NUL in key:
            raise nul_refused(key)
    for key, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise nul_refused(key)


def declare(route: BaseRoute, permission: Permission) -> BaseRoute:
    setattr(route, PERMISSION_ATTR, permission)
    return route


def route(
    path: str, endpoint: Callable[..., Any], *, needs: Permission, methods: list[str] | None = None, **kw
) -> Route:
    if needs.resource != PUBLIC and (inspect.isfunction(endpoint) or inspect.ismethod(endpoint)):
        endpoint = _authenticated_first(endpoint)
    return declare(Route(path, endpoint, methods=methods, **kw), needs)  # type: ignore[return-value]


def _refusal(request: HTTPConnection):
    """The 401 answer when the app's authorizer authenticates and nobody proved who asks (before the
    endpoint reads anything of the request, so an anonymous caller learns nothing of what it expects)."""
    authenticate = getattr(request.app.state, "authorizer", None) if "app" in request.scope else None
    authenticate = getattr(authenticate, "authenticate", None)
    if authenticate is None:
        return None
    try:
        authenticate(context_of(request))
    except ModelyardError as exc:
        from modelyard.web.errors import json_error

        return json_error(exc)
    return None


def _authenticated_first(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def checked(request):
            return _refusal(request) or await endpoint(request)

    else:

        @functools.wraps(endpoint)
        def checked(request):
            return _refusal(request) or endpoint(request)

    return checked


def mount(path: str, app: Any, *, needs: Permission, name: str | None = None) -> Mount:
    return declare(Mount(path, app, name=name), needs)  # type: ignore[return-value]


def authorize(request: HTTPConnection, permission: Permission, source: Any = None) -> None:
    """Raise PermissionDenied/Unauthenticated unless the request's principal may do ``permission``
    (the resource id is found in ``source``: the parsed message, else the request). A request
    with a NUL in its query string or path parameters is refused first."""
    if source is None:
        check_strings(request)
    authorizer = getattr(request.app.state, "authorizer", None) if "app" in request.scope else None
    if authorizer is not None:
        check(authorizer, context_of(request), permission, request if source is None else source)


async def authorized(request: HTTPConnection, permission: Permission, source: Any = None) -> None:
    """``authorize()`` for an async endpoint. Where the app's authorizer authenticates (authentication
    on: the principal's grants and the resource's experiment are read from the database) the check
    runs on the server's handler threads, never on the event loop; else at once (nothing to wait on)."""
    app = request.scope.get("app")
    authorizer = getattr(app.state, "authorizer", None) if app is not None else None
    if getattr(authorizer, "authenticate", None) is None:
        authorize(request, permission, source)
        return
    offload = getattr(getattr(app.state, "services", None), "offload", None)
    if offload is not None:
        await offload.run(authorize, request, permission, source)
    else:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(authorize, request, permission, source)


def declared(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute, Permission | None]]:
    """(path, route, its permission or None) for every route, inside mounts too."""
    for r in routes:
        path = prefix + getattr(r, "path", "")
        permission = getattr(r, PERMISSION_ATTR, None)
        yield path, r, permission
        inner = getattr(r, "routes", None) if isinstance(r, Mount) else None
        if inner and permission is None:
            yield from declared(list(inner), path)
