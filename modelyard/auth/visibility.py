"""What services do with ``ctx.access`` (set when authentication is on; None: everything goes):
keep only the items of a page the caller may read, give a creator MANAGE on what they create, and
move or drop the grants of a renamed or deleted resource.

A filtered page keeps the store's next-page token, so paging goes on where the store stopped; a
page that filtering empties is followed by the next one, so a caller never gets an empty page in
the middle of results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from modelyard.auth.context import RequestContext
from modelyard.entities import PagedList

T = TypeVar("T")
MAX_EMPTY_PAGES = 100


def readable(ctx: RequestContext, kind: str, items: Sequence[T], key: Callable[[T], str]) -> list[T]:
    access = ctx.access
    if access is None or access.principal.admin:
        return list(items)
    return [item for item in items if access.can_read(kind, str(key(item)))]


def allowed(ctx: RequestContext, kind: str, resource_id: str, level: str) -> bool:
    """Whether ``ctx`` has ``level`` ("READ", "USE", ...) on one resource (True without auth)."""
    from modelyard.auth.levels import Level

    access = ctx.access
    return access is None or access.can(kind, str(resource_id), Level.parse(level))


def readable_pages(
    ctx: RequestContext,
    kind: str,
    fetch: Callable[[str | None], tuple[Sequence[T], str | None]],
    key: Callable[[T], str],
    page_token: str | None,
) -> tuple[list[T], str | None]:
    """``fetch(page_token) -> (items, next token)`` filtered to what ``ctx`` may read."""
    items, token = fetch(page_token)
    if ctx.access is None or ctx.access.principal.admin:
        return list(items), token
    kept = readable(ctx, kind, items, key)
    for _ in range(MAX_EMPTY_PAGES):
        if kept or not token:
            break
        items, token = fetch(token)
        kept = readable(ctx, kind, items, key)
    return kept, token


def readable_page(
    ctx: RequestContext, kind: str, fetch: Callable[[str | None], PagedList[T]], key, page_token: str | None
) -> PagedList[T]:
    def fetch_tuple(token):
        page = fetch(token)
        return list(page), page.token

    items, token = readable_pages(ctx, kind, fetch_tuple, key, page_token)
    return PagedList(items, token)


def created(ctx: RequestContext, kind: str, resource_id: str) -> None:
    if ctx.access is not None:
        ctx.access.created(kind, str(resource_id))


def renamed(ctx: RequestContext, kind: str, old: str, new: str) -> None:
    if ctx.access is not None:
        ctx.access.authorizer.auth.move_grants(kind, old, new)


def deleted(ctx: RequestContext, kind: str, resource_id: str) -> None:
    if ctx.access is not None:
        ctx.access.authorizer.auth.move_grants(kind, str(resource_id), None)
