"""Jinja2 environment of the web UI, and ``render()``.

Every inline ``<script>`` of a template carries ``nonce="{{ csp_nonce }}"``: the pages' Content
Security Policy (``modelyard.web.headers``) runs no other inline script. Autoescape is on for every template: user strings (names, tags, params, artifact paths) are
always escaped; pass data to JavaScript only through ``|tojson`` (which escapes ``<``, ``>``, ``&``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from modelyard import formatting
from modelyard.ui.markdown import link_logged_models, render_markdown

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Crumb:
    """One breadcrumb: a label and the link it goes to (None: the current page)."""

    label: str
    href: str | None = None


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ``2026-11-26 06:31:16`` (UTC); empty for None."""
    if not ms:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_number(value: Any) -> str:
    """Metric values: up to 6 significant digits, NaN/inf as words."""
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return "" if value is None else str(value)


@cache
def environment() -> jinja2.Environment:
    import jinja2  # on the first page: API-only traffic never loads it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = format_time
    env.filters["num"] = format_number
    env.filters["markdown"] = render_markdown
    env.filters["model_links"] = link_logged_models
    env.globals["duration"] = formatting.duration
    env.globals["zip"] = zip
    return env


def render(
    request: Request,
    template: str,
    crumbs: list[Crumb] | None = None,
    status: int = 200,
    *,
    allow_eval: bool = False,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` (plus ``request``, ``crumbs``, ``version`` and
    ``csp_nonce``, which every inline ``<script>`` carries). ``allow_eval``: the page's policy allows
    ``'unsafe-eval'`` (plotly's WebGL charts compile shaders with ``Function``)."""
    from modelyard import __version__
    from modelyard.web.headers import csp_nonce
    from modelyard.web.middleware import SCOPE_KEY

    ctx = request.scope.get(SCOPE_KEY)
    principal = ctx.principal if ctx is not None else None
    viewer = principal if principal is not None and principal.authenticated else None  # auth on, signed in
    context.setdefault("csrf", (viewer.csrf if viewer is not None else None) or "")
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            crumbs=crumbs or [],
            version=__version__,
            viewer=viewer,
            csp_nonce=csp_nonce(request, allow_eval=allow_eval),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, exc: BaseException) -> HTMLResponse:
    """Any error as the HTML error page (``modelyard.web.errors.client_error`` decides what it says):
    a missing run is a 404 page, a bad filter a 400 page, an unexpected error a bare 500 page with
    the request id; never a stack trace."""
    from modelyard.web.errors import client_error

    err = client_error(exc, request.url.path)
    return render(
        request,
        "error.html",
        [Crumb("Error")],
        status=err.http_status,
        error_code=err.error_code,
        message=err.message,
    )


def page(handler):
    """Wrap a page handler ``(services, request, ctx) -> Response`` (run in the thread pool by Starlette)."""
    import functools

    from modelyard.web.middleware import context_of

    @functools.wraps(handler)
    def endpoint(services, request: Request):
        try:
            return handler(services, request, context_of(request))
        except Exception as exc:  # noqa: BLE001 - told as a page, never a trace
            return error_page(request, exc)

    return endpoint


def page_route(services, path: str, handler, *, needs, methods: tuple[str, ...] = ("GET",)):
    """The route of a page ``handler(services, request)`` (sync: Starlette runs it in its thread pool),
    after the permission check (a refusal is shown as the error page)."""
    from modelyard.web.routing import authorize, route

    def endpoint(request: Request):
        try:
            authorize(request, needs)
        except Exception as exc:  # noqa: BLE001
            return error_page(request, exc)
        return handler(services, request)

    endpoint.__name__ = getattr(handler, "__name__", "page")
    return route(path, endpoint, methods=list(methods), needs=needs)
