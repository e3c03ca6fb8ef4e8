"""The request context: who asks (the principal), with which settings, under which request id.

Every service method takes one as its first argument. A server builds it once per request (in
``modelyard.web.middleware``), the embedded client builds one per client (``local_context``). This
is a leaf of the package: it imports only settings.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from modelyard.settings import Settings


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request.

    ``name`` is None for an anonymous caller. ``authenticated`` says whether a credential proved the
    name (False for the client's own word: a basic-auth user name nobody checked, a header).
    """

    name: str | None = None
    authenticated: bool = False
    admin: bool = False
    method: str = "anonymous"  # the authenticator that resolved it
    user_id: int | None = None  # the account's id in the identity store (authenticated users)
    # A token's scopes ({grant kind or "*": the most it may do}); None: the user's full rights.
    scopes: Any = None
    token_id: int | None = None
    csrf: str | None = None  # the CSRF token of a UI session (state changes must echo it)

    @property
    def is_anonymous(self) -> bool:
        return self.name is None


ANONYMOUS = Principal()


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal = ANONYMOUS
    settings: Settings = field(default_factory=Settings)
    request_id: str = ""
    # What the principal may see, for services that filter lists (``modelyard.auth.access.Access``);
    # None when authentication is off: everything is visible.
    access: Any = None

    def user(self, fallback: str | None = None) -> str | None:
        """The name to record as the actor of a change: the principal's, else ``fallback``
        (what a client said in the body), else None."""
        return self.principal.name or (fallback or None)


def local_context(settings: Settings, user: str | None = None) -> RequestContext:
    """The context of an embedded client (no server in between): the process's own user."""
    principal = Principal(user, authenticated=False, method="local") if user else ANONYMOUS
    return RequestContext(principal, settings, uuid.uuid4().hex)


_current: ContextVar[RequestContext | None] = ContextVar("modelyard_request_context", default=None)


def bind(ctx: RequestContext) -> None:
    """Make ``ctx`` the current request's context (the thread pool and tasks copy it along)."""
    _current.set(ctx)


def current() -> RequestContext | None:
    """The context bound to the current request, if any (for code that has no argument to take it)."""
    return _current.get()
