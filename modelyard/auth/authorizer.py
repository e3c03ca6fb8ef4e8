"""The real authorizer: per-resource permission levels, deny by default.

Each route's ``needs(kind, action, locate)`` becomes one lookup: the resource is mapped to what
grants name (a run, a logged model or an artifact path to its experiment; a model version or alias
to its registered model), the principal's level there is its grant, else the configured default
(admins: MANAGE), capped by a token's scopes; the action needs its level (``levels.ACTION_LEVEL``).
A kind this module does not know is refused. Creating a top-level resource needs only a signed-in
caller (the creator then gets MANAGE on it); searches need a signed-in caller and the services
return only what ``Access.can_read`` allows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from modelyard.auth import permissions as p
from modelyard.auth.context import Principal, RequestContext, local_context
from modelyard.auth.levels import ACTION_LEVEL, KIND_ALIASES, KIND_OF_ROUTE, Level, scope_cap
from modelyard.exceptions import PermissionDenied, ResourceDoesNotExist, Unauthenticated

_ADMIN_KINDS = {p.SERVER, p.WEBHOOK, p.AUDIT}


class _Lru:
    """run id -> experiment id and the like: facts that never change, kept for the most recent."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute: Callable[[Any], Any]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute(key)
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def principal_level(auth, principal: Principal, grant_kind: str, resource_id: str, default: Level) -> Level:
    """``principal``'s permission on one resource (its grant, else ``default``; admins: MANAGE),
    its token's scopes applied; ``auth`` is the AuthService whose grants count."""
    if principal.admin:
        found = Level.MANAGE
    elif principal.user_id is None:
        found = Level.NO_PERMISSIONS
    else:
        found = auth.grants_of(principal.user_id).get((grant_kind, str(resource_id)), default)
    return min(found, scope_cap(principal.scopes, grant_kind))


class PermissionAuthorizer:
    def __init__(self, auth, services) -> None:
        self.auth = auth  # AuthService
        self.services = services
        self.default = auth.config.default_level
        self._system = local_context(services.settings)
        self._run_experiment = _Lru()
        self._model_experiment = _Lru()

    # -- the seam ----------------------------------------------------------------------------
    def authenticate(self, ctx: RequestContext) -> None:
        """Raise Unauthenticated unless a credential proved who asks."""
        principal = ctx.principal
        if not principal.authenticated or principal.name is None:
            raise Unauthenticated(
                "Invalid credentials" if principal.method == "failed" else "Authentication required"
            )

    def authorize(self, ctx: RequestContext, permission: p.Permission, resource_id: Any) -> None:
        self.authenticate(ctx)
        principal = ctx.principal
        kind, action = permission.resource, permission.action
        access = ctx.access
        if access is not None:
            access.note(kind, resource_id)
        ids = resource_id if isinstance(resource_id, (list, tuple, set)) else [resource_id]
        for rid in ids or [None]:
            if not self.allows(principal, kind, action, rid, permission.locate):
                what = kind.replace("_", " ") + (f" {rid}" if rid not in (None, "") else "s")
                raise PermissionDenied(f"Permission denied: {principal.name} may not {action} {what}")

    # -- the decision ------------------------------------------------------------------------
    def allows(self, principal: Principal, kind: str, action: str, rid: Any, locate: Any = None) -> bool:
        if kind == p.PUBLIC:
            return True
        if action not in ACTION_LEVEL:
            return False
        if kind in _ADMIN_KINDS:
            if kind == p.SERVER and action == p.READ:
                return True
            return self._admin(principal)
        if kind == p.GRANT:  # "<resource type>:<id>": managing who may do what there needs MANAGE
            kind_name, _, target = str(rid or "").partition(":")
            grant_kind = KIND_ALIASES.get(kind_name.lower())
            if grant_kind is None or not target:
                return self._admin(principal)
            return self.level(principal, grant_kind, target) >= Level.MANAGE
        if kind == p.USER:
            if action in (p.READ, p.UPDATE) and rid is not None and rid == principal.name:
                return principal.scopes is None or scope_cap(principal.scopes, "*") >= Level.MANAGE
            return self._admin(principal)
        grant_kind = KIND_OF_ROUTE.get(kind)
        if grant_kind is None:
            return False  # a kind nobody taught the authorizer: denied
        if rid in (None, ""):
            if kind == p.ARTIFACT:  # the artifact store's root: every experiment's folder
                return self._admin(principal)
            # A search or a create: the service filters results; the creator then owns it.
            return scope_cap(principal.scopes, grant_kind) >= min(ACTION_LEVEL[action], Level.EDIT)
        target = self._grant_target(kind, rid, locate)
        if target is None:
            # no such resource: the handler answers RESOURCE_DOES_NOT_EXIST, or creates it (a job
            # deployed, a feature table written with mode=create) and the creator then owns it
            return scope_cap(principal.scopes, grant_kind) >= min(ACTION_LEVEL[action], Level.EDIT)
        return self.level(principal, grant_kind, target) >= ACTION_LEVEL[action]

    def level(self, principal: Principal, grant_kind: str, resource_id: str) -> Level:
        """The principal's permission on one resource, its token's scopes applied."""
        return principal_level(self.auth, principal, grant_kind, resource_id, self.default)

    def _admin(self, principal: Principal) -> bool:
        return principal.admin and scope_cap(principal.scopes, "*") >= Level.MANAGE

    # -- resources -> what grants name -------------------------------------------------------
    def _grant_target(self, kind: str, rid: Any, locate: Any) -> str | None:
        rid = str(rid)
        if kind == p.EXPERIMENT:
            if locate == "experiment_name":
                experiment = self.services.tracking.get_experiment_by_name(self._system, rid)
                return experiment.experiment_id if experiment else None
            return rid
        if kind == p.RUN:
            return self._run_experiment.get(rid, self._experiment_of_run)
        if kind == p.LOGGED_MODEL:
            return self._model_experiment.get(rid, self._experiment_of_model)
        if kind == p.ARTIFACT:  # "<experiment id>/<run id>/artifacts/..." in the proxied store
            return rid.strip("/").split("/", 1)[0] or None
        if kind == p.JOB:  # a job by name or id, or one of its runs: grants name the job
            return self._job_name(rid, locate)
        if kind == p.FEATURE_TABLE:
            return rid if self._feature_table_exists(rid) else None
        return rid  # registered models, versions and aliases name the model

    def _job_name(self, rid: str, locate: Any) -> str | None:
        jobs = self.services.jobs
        if jobs is None:
            return rid
        try:
            if locate == "job_run_id":
                return jobs.get_run(self._system, rid).job_name
            return jobs.get_job(self._system, rid).name
        except ResourceDoesNotExist:
            return None

    def _feature_table_exists(self, name: str) -> bool:
        try:
            self.services.feature_tables(self._system).get(name)
        except ResourceDoesNotExist:
            return False
        return True

    def _experiment_of_run(self, run_id: str) -> str | None:
        try:
            return self.services.tracking.get_run(self._system, run_id).info.experiment_id
        except ResourceDoesNotExist:
            return None

    def _experiment_of_model(self, model_id: str) -> str | None:
        try:
            return self.services.tracking.get_logged_model(self._system, model_id).experiment_id
        except ResourceDoesNotExist:
            return None


class Access:
    """What one request's principal may see, for the services that filter what they list
    (``ctx.access``); it also notes the resource the request was about, for the audit log."""

    __slots__ = ("authorizer", "principal", "address", "resource")

    def __init__(self, authorizer: PermissionAuthorizer, principal: Principal, address: str = "") -> None:
        self.authorizer = authorizer
        self.principal = principal
        self.address = address
        self.resource: tuple[str, Any] | None = None

    def note(self, kind: str, resource_id: Any) -> None:
        if self.resource is None or resource_id not in (None, ""):
            self.resource = (kind, resource_id)

    def can_read(self, grant_kind: str, resource_id: str) -> bool:
        return self.can(grant_kind, resource_id, Level.READ)

    def can(self, grant_kind: str, resource_id: str, level: Level) -> bool:
        return self.authorizer.level(self.principal, grant_kind, resource_id) >= level

    def created(self, grant_kind: str, resource_id: str) -> None:
        self.resource = (grant_kind, resource_id)  # the audit entry names what was created
        if not self.principal.admin:
            self.authorizer.auth.creator_owns(self.principal, grant_kind, resource_id)
