"""MLflow's basic-auth REST API (users, experiment and registered-model permissions, the 3.x
per-user grants), modelyard's API tokens and the audit log. Served when authentication is on; each
endpoint answers ENDPOINT_NOT_FOUND otherwise, as an MLflow server without the basic-auth app."""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import (
    AUDIT,
    CREATE,
    DELETE,
    EXPERIMENT,
    GRANT,
    MANAGE,
    READ,
    REGISTERED_MODEL,
    SERVER,
    UPDATE,
    USER,
    needs,
)
from modelyard.exceptions import EndpointNotFound, InvalidParameterValue
from modelyard.server.protocol import Message, RouteTable
from modelyard.server.services import Services

table = RouteTable()
USERS = "/mlflow/users"


def _auth(svc: Services):
    if svc.auth is None:
        raise EndpointNotFound("Authentication is not enabled on this server (modelyard server --auth)")
    return svc.auth.auth


class Credentials(Message):
    username: str = ""
    password: str = ""


class Username(Message):
    username: str


class NewPassword(Message):
    username: str
    password: str = ""
    current_password: str | None = None


class AdminFlag(Message):
    username: str
    is_admin: bool | str


@table.post(f"{USERS}/create", Credentials, needs=needs(USER, CREATE))
def create_user(svc: Services, msg: Credentials, ctx: RequestContext) -> dict:
    """Create a user (admins only)."""
    if not msg.username or not msg.password:
        raise InvalidParameterValue("Username and password cannot be empty.")
    return {"user": _auth(svc).create_user(ctx, msg.username, msg.password).to_dict()}


@table.get(f"{USERS}/get", Username, needs=needs(USER, READ, "username"))
def get_user(svc: Services, msg: Username, ctx: RequestContext) -> dict:
    """Get a user (admins, or the user themself)."""
    return {"user": _auth(svc).get_user(ctx, msg.username).to_dict()}


@table.get(f"{USERS}/current", needs=needs(SERVER, READ))
def current_user(svc: Services, _msg, ctx: RequestContext) -> dict:
    """The signed-in user."""
    user = _auth(svc).get_user(ctx, ctx.principal.name)
    return {"user": user.to_dict(), "is_basic_auth": True}


@table.get(f"{USERS}/list", needs=needs(USER, MANAGE))
def list_users(svc: Services, _msg, ctx: RequestContext) -> dict:
    """Every user (admins only)."""
    return {"users": [u.to_dict() for u in _auth(svc).list_users(ctx)]}


@table.patch(f"{USERS}/update-password", NewPassword, needs=needs(USER, UPDATE, "username"))
def update_password(svc: Services, msg: NewPassword, ctx: RequestContext) -> dict:
    """Change a password (admins; a user their own, giving the current one)."""
    _auth(svc).update_password(ctx, msg.username, msg.password, msg.current_password)
    return {}


@table.patch(f"{USERS}/update-admin", AdminFlag, needs=needs(USER, MANAGE, "username"))
def update_admin(svc: Services, msg: AdminFlag, ctx: RequestContext) -> dict:
    """Make a user an admin or not (admins only)."""
    _auth(svc).update_admin(ctx, msg.username, msg.is_admin)
    return {}


@table.delete(f"{USERS}/delete", Username, needs=needs(USER, DELETE, "username"))
def delete_user(svc: Services, msg: Username, ctx: RequestContext) -> dict:
    """Delete a user (admins only; not themself)."""
    _auth(svc).delete_user(ctx, msg.username)
    return {}


# -- MLflow 2's per-resource permission endpoints ---------------------------------------------
class ExperimentGrant(Message):
    experiment_id: str
    username: str
    permission: str = ""


class ModelGrant(Message):
    name: str
    username: str
    permission: str = ""


def _grant_routes(
    path: str, kind: str, model: type[Message], field: str, route_kind: str, answer_key: str
) -> None:
    manage = needs(route_kind, MANAGE, field)

    def answer(svc, ctx, msg, permission: str) -> dict:
        user = _auth(svc).get_user(ctx, msg.username)
        return {answer_key: {field: getattr(msg, field), "user_id": user.id, "permission": permission}}

    @table.post(f"{path}/create", model, needs=manage)
    def create(svc: Services, msg, ctx: RequestContext) -> dict:
        """Grant a user a permission on the resource (MANAGE on it needed)."""
        _auth(svc).grant(ctx, kind, getattr(msg, field), msg.username, msg.permission, create=True)
        return answer(svc, ctx, msg, msg.permission.upper())

    @table.get(f"{path}/get", model, needs=manage)
    def get(svc: Services, msg, ctx: RequestContext) -> dict:
        """A user's permission on the resource."""
        return answer(svc, ctx, msg, _auth(svc).get_grant(ctx, kind, getattr(msg, field), msg.username))

    @table.patch(f"{path}/update", model, needs=manage)
    def update(svc: Services, msg, ctx: RequestContext) -> dict:
        """Change a user's permission on the resource."""
        auth = _auth(svc)
        auth.get_grant(ctx, kind, getattr(msg, field), msg.username)
        auth.grant(ctx, kind, getattr(msg, field), msg.username, msg.permission)
        return {}

    @table.delete(f"{path}/delete", model, needs=manage)
    def delete(svc: Services, msg, ctx: RequestContext) -> dict:
        """Remove a user's permission on the resource."""
        _auth(svc).revoke(ctx, kind, getattr(msg, field), msg.username, missing_ok=False)
        return {}

    for fn, verb in ((create, "create"), (get, "get"), (update, "update"), (delete, "delete")):
        fn.__name__ = f"{verb}_{kind}_permission"


_grant_routes(
    "/mlflow/experiments/permissions",
    "experiment",
    ExperimentGrant,
    "experiment_id",
    EXPERIMENT,
    "experiment_permission",
)
_grant_routes(
    "/mlflow/registered-models/permissions",
    "registered_model",
    ModelGrant,
    "name",
    REGISTERED_MODEL,
    "registered_model_permission",
)


# -- MLflow 3's per-user grant endpoints --------------------------------------------------------
class UserGrant(Message):
    username: str
    resource_type: str
    resource_id: str
    permission: str = ""


def _grant_target(msg: UserGrant) -> str:
    return f"{msg.resource_type}:{msg.resource_id}"


@table.post(f"{USERS}/permissions/grant", UserGrant, since=3, needs=needs(GRANT, MANAGE, _grant_target))
def grant_user_permission(svc: Services, msg: UserGrant, ctx: RequestContext) -> dict:
    """Grant a user a permission on a resource (MANAGE on it needed)."""
    _auth(svc).grant(ctx, msg.resource_type, msg.resource_id, msg.username, msg.permission)
    return {}


@table.post(f"{USERS}/permissions/revoke", UserGrant, since=3, needs=needs(GRANT, MANAGE, _grant_target))
def revoke_user_permission(svc: Services, msg: UserGrant, ctx: RequestContext) -> dict:
    """Remove a user's grant on a resource."""
    _auth(svc).revoke(ctx, msg.resource_type, msg.resource_id, msg.username)
    return {}


@table.get(f"{USERS}/permissions/get", UserGrant, since=3, needs=needs(GRANT, MANAGE, _grant_target))
def get_user_permission(svc: Services, msg: UserGrant, ctx: RequestContext) -> dict:
    """A user's effective permission on a resource (``allowed``: at least USE)."""
    from modelyard.auth.levels import Level
    from modelyard.auth.service import grant_kind

    auth = _auth(svc)
    user = auth.get_user(ctx, msg.username)
    level = svc.auth.authorizer.level(_principal_of(user), grant_kind(msg.resource_type), msg.resource_id)
    return {"allowed": level >= Level.USE, "permission": level.name}


def _principal_of(user):
    from modelyard.auth.context import Principal

    return Principal(user.username, True, user.is_admin, "lookup", user.id)


# -- API tokens ---------------------------------------------------------------------------------
TOKENS = "/modelyard/tokens"


class CreateToken(Message):
    name: str
    scopes: str | None = None
    expires_in: str | None = None
    username: str | None = None


class ListTokens(Message):
    username: str | None = None
    all_users: bool = False


class TokenRef(Message):
    token_id: str


@table.post(f"{TOKENS}/create", CreateToken, needs=needs(SERVER, READ))
def create_token(svc: Services, msg: CreateToken, ctx: RequestContext) -> dict:
    """Create an API token (yours; admins for anyone). Its secret is in this answer only."""
    secret, token = _auth(svc).create_token(ctx, msg.name, msg.scopes, msg.expires_in, msg.username)
    return {"token": token.to_dict(), "secret": secret}


@table.get(f"{TOKENS}/list", ListTokens, needs=needs(SERVER, READ))
def list_tokens(svc: Services, msg: ListTokens, ctx: RequestContext) -> dict:
    """Your tokens (admins: anyone's, or everyone's), without their secrets."""
    tokens = _auth(svc).list_tokens(ctx, msg.username, msg.all_users)
    return {"tokens": [t.to_dict() for t in tokens]}


@table.post(f"{TOKENS}/revoke", TokenRef, needs=needs(SERVER, READ))
def revoke_token(svc: Services, msg: TokenRef, ctx: RequestContext) -> dict:
    """Revoke a token (yours; admins: anyone's)."""
    _auth(svc).revoke_token(ctx, msg.token_id)
    return {}


# -- the audit log --------------------------------------------------------------------------------
class ListAudit(Message):
    username: str | None = None
    resource: str | None = None
    since: int | None = None
    max_results: int = 100
    before_id: int | None = None


@table.get("/modelyard/audit/list", ListAudit, needs=needs(AUDIT, READ))
def list_audit(svc: Services, msg: ListAudit, ctx: RequestContext) -> dict:
    """Audit entries, newest first (admins only); page with ``before_id``."""
    entries = _auth(svc).list_audit(
        ctx,
        username=msg.username,
        resource=msg.resource,
        since=msg.since,
        limit=msg.max_results,
        before_id=msg.before_id,
    )
    return {"entries": [e.to_dict() for e in entries]}
