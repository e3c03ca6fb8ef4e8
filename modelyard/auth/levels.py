"""Permission levels, READ < USE < EDIT < MANAGE (and NO_PERMISSIONS), and how route actions map
onto them. A leaf module: it imports only the permission vocabulary."""

from __future__ import annotations

from enum import IntEnum

from modelyard.auth import permissions as p
from modelyard.exceptions import InvalidParameterValue


class Level(IntEnum):
    NO_PERMISSIONS = 0
    READ = 1
    USE = 2
    EDIT = 3
    MANAGE = 4

    @classmethod
    def parse(cls, value: str, field: str = "permission") -> Level:
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(level.name for level in cls)
            raise InvalidParameterValue(f"Invalid {field} {value!r}: expected one of {names}") from None


# What each action of a route needs on the resource it is about. Deleting (and restoring) needs
# MANAGE, as MLflow's fix of CVE-2024-4263 says for artifacts; creating inside a resource (a run in
# an experiment, a version of a model) is an update of that resource.
ACTION_LEVEL = {
    p.READ: Level.READ,
    p.USE: Level.USE,
    p.CREATE: Level.EDIT,
    p.UPDATE: Level.EDIT,
    p.DELETE: Level.MANAGE,
    p.MANAGE: Level.MANAGE,
}

# The kinds a grant names (MLflow's resource types first) and the route kinds each covers.
GRANT_KINDS = {
    "experiment": (p.EXPERIMENT, p.RUN, p.LOGGED_MODEL, p.ARTIFACT),
    "registered_model": (p.REGISTERED_MODEL, p.MODEL_VERSION, p.WEBHOOK),
    "feature_table": (p.FEATURE_TABLE,),
    "job": (p.JOB,),
}
# MLflow's resource type names for grants, and ours.
KIND_ALIASES = {
    "experiment": "experiment",
    "experiments": "experiment",
    "registered_model": "registered_model",
    "registered_models": "registered_model",
    "model": "registered_model",
    "feature_table": "feature_table",
    "job": "job",
}
KIND_OF_ROUTE = {route: grant for grant, routes in GRANT_KINDS.items() for route in routes}

# Token scopes: "read" / "write" / "manage" for everything, or "<kinds>:<level>" for some kinds.
SCOPE_LEVELS = {"read": Level.READ, "use": Level.USE, "write": Level.EDIT, "manage": Level.MANAGE}
SCOPE_KINDS = {
    "experiments": "experiment",
    "models": "registered_model",
    "feature_tables": "feature_table",
    "jobs": "job",
}


def parse_scopes(text: str | None) -> dict[str, Level]:
    """``"experiments:write,models:read"`` -> {grant kind: cap}; ``"write"`` caps every kind ("*")."""
    scopes: dict[str, Level] = {}
    for item in (text or "manage").split(","):
        item = item.strip().lower()
        if not item:
            continue
        kind, _, level = item.rpartition(":")
        if level not in SCOPE_LEVELS:
            raise InvalidParameterValue(
                f"Invalid scope {item!r}: the level must be one of {', '.join(SCOPE_LEVELS)}"
            )
        if kind and kind not in SCOPE_KINDS:
            raise InvalidParameterValue(
                f"Invalid scope {item!r}: the kind must be one of {', '.join(SCOPE_KINDS)}"
            )
        key = SCOPE_KINDS[kind] if kind else "*"
        scopes[key] = max(scopes.get(key, Level.NO_PERMISSIONS), SCOPE_LEVELS[level])
    if not scopes:
        raise InvalidParameterValue("Invalid scope: empty")
    return scopes


def format_scopes(scopes: dict[str, Level]) -> str:
    names = {v: k for k, v in SCOPE_KINDS.items()}
    level_names = {v: k for k, v in SCOPE_LEVELS.items()}
    return ",".join(
        level_names[level] if kind == "*" else f"{names[kind]}:{level_names[level]}"
        for kind, level in sorted(scopes.items())
    )


def scope_cap(scopes: dict[str, Level] | None, grant_kind: str) -> Level:
    """The most a token with ``scopes`` may do on ``grant_kind`` (MANAGE when not a token)."""
    if scopes is None:
        return Level.MANAGE
    return max(scopes.get("*", Level.NO_PERMISSIONS), scopes.get(grant_kind, Level.NO_PERMISSIONS))
