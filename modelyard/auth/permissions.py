"""What each route needs, declared where the route is declared, and the one place it is checked.

Every route of every app (the API, the artifact proxy, downloads, the UI, the scoring server's
routes) carries a ``Permission``: the kind of resource it touches, the action, and how to find the
resource's id in the request (a field of the parsed message, a path or query parameter). A test
enumerates every route and fails for one without a declaration, so a new route cannot forget it.

The ``Authorizer`` is the seam the check goes through. ``AllowAll`` is what the server uses until
authentication is switched on; the authentication issue plugs the real one in (deny by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard.auth.context import RequestContext

# Resource kinds. "public" routes need nothing (health, static files); "server" is server-wide.
PUBLIC = "public"
SERVER = "server"
EXPERIMENT = "experiment"
RUN = "run"
LOGGED_MODEL = "logged_model"
REGISTERED_MODEL = "registered_model"
MODEL_VERSION = "model_version"
WEBHOOK = "webhook"
ARTIFACT = "artifact"  # a path of the proxied artifact store
SCORING = "scoring"  # a model served by the scoring server
FEATURE_TABLE = "feature_table"
JOB = "job"  # a workflow (modelyard.jobs), its runs and logs
USER = "user"  # an account (its id: the user name); only admins and the user themself
AUDIT = "audit"  # the audit log: admins only
GRANT = "grant"  # the grants on one resource (its id: "<resource type>:<resource id>"): MANAGE on it

# Actions, weakest first (the authentication issue maps them onto READ < USE < EDIT < MANAGE).
READ, USE, CREATE, UPDATE, DELETE, MANAGE = "read", "use", "create", "update", "delete", "manage"
ACTIONS = (READ, USE, CREATE, UPDATE, DELETE, MANAGE)

Locator = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Permission:
    resource: str
    action: str
    # Where the resource's id is: a field of the request message (API routes) or a path/query
    # parameter (other routes); a callable for anything else; None when the route is not about one
    # resource (a create, a search: the service filters what it returns).
    locate: str | Locator | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")

    def resource_id(self, source: Any) -> Any:
        """The id of the resource ``source`` (a message or a Starlette request) is about."""
        if self.locate is None:
            return None
        if callable(self.locate):
            return self.locate(source)
        if hasattr(source, "path_params"):  # a Starlette request
            return source.path_params.get(self.locate) or source.query_params.get(self.locate)
        return getattr(source, self.locate, None)


def public() -> Permission:
    return Permission(PUBLIC, READ)


def needs(resource: str, action: str, locate: str | Locator | None = None) -> Permission:
    return Permission(resource, action, locate)


class Authorizer(Protocol):
    def authorize(self, ctx: RequestContext, permission: Permission, resource_id: Any) -> None:
        """Return if ``ctx``'s principal may do ``permission`` on ``resource_id``; raise
        ``PermissionDenied`` (or ``Unauthenticated``) otherwise."""


class AllowAll:
    """Everyone may do everything: the server's behaviour until authentication is switched on."""

    def authorize(self, ctx: RequestContext, permission: Permission, resource_id: Any) -> None:
        return None


def check(authorizer: Authorizer, ctx: RequestContext, permission: Permission, source: Any) -> None:
    if permission.resource == PUBLIC:
        return
    authorizer.authorize(ctx, permission, permission.resource_id(source))
