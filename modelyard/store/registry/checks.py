"""Validation of registry input: names, versions, aliases, tags (MLflow's limits, §3 of mlflow.md)."""

from __future__ import annotations

import posixpath
import re

from modelyard import validation as v
from modelyard.exceptions import InvalidParameterValue
from modelyard.validation import missing_value

MAX_MODEL_NAME_LENGTH = 256
MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 100_000
MAX_SOURCE_LENGTH = 10_000
MAX_RUN_LINK_LENGTH = 10_000
PROMPT_TAG = "mlflow.prompt.is_prompt"

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_VERSION_RE = re.compile(r"[0-9]{1,18}")


def model_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue(missing_value(what))
    if "/" in name or ":" in name:
        raise InvalidParameterValue(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Model name '{name[:60]}...' had length {len(name)}, which exceeded length limit of "
            f"{MAX_MODEL_NAME_LENGTH}"
        )
    if posixpath.normpath(name) != name or name.startswith("..") or any(ord(c) < 32 for c in name):
        raise InvalidParameterValue(
            f"Invalid value '{name}' for parameter '{what}' supplied: names may not be path-ambiguous "
            "or contain control characters."
        )
    return name


def version_number(version: object) -> int:
    """``"3"`` or ``3`` -> 3; anything else is INVALID_PARAMETER_VALUE (as MLflow)."""
    if isinstance(version, bool):
        raise InvalidParameterValue(f"Parameter 'version' must be an integer, got '{version}'.")
    if isinstance(version, int):
        text = str(version)
    elif isinstance(version, str):
        text = version.strip()
    else:
        text = ""
    if not _VERSION_RE.fullmatch(text):
        raise InvalidParameterValue(f"Parameter 'version' must be an integer, got '{version}'.")
    return int(text)


def alias_name(alias: object) -> str:
    if not isinstance(alias, str) or alias == "":
        raise InvalidParameterValue("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.fullmatch(alias):
        raise InvalidParameterValue(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_) "
            "and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterValue(
            f"Registered model alias name '{alias[:60]}...' had length {len(alias)}, which exceeded "
            f"length limit of {MAX_ALIAS_LENGTH}"
        )
    return alias


def settable_alias(alias: object) -> str:
    """An alias that may be set: not ``latest`` (any case) nor a version name like ``v3``."""
    alias_name(alias)
    assert isinstance(alias, str)
    if alias.lower() == "latest":
        raise InvalidParameterValue("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.fullmatch(alias):
        raise InvalidParameterValue(f"Version alias name '{alias}' is reserved.")
    return alias


def tag(key: object, value: object) -> str:
    v.validate_key(key, "tag")
    if len(key) > MAX_REGISTRY_TAG_KEY_LENGTH:  # type: ignore[arg-type]
        raise InvalidParameterValue(f"Tag key had length {len(key)}, limit {MAX_REGISTRY_TAG_KEY_LENGTH}")  # type: ignore[arg-type]
    text = v.refuse_nul("" if value is None else str(value), "value")
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"Tag value of '{key}' had length {len(text)}, which exceeded length limit of "
            f"{MAX_REGISTRY_TAG_VALUE_LENGTH}"
        )
    return text


def tags(items: dict[str, str] | None) -> dict[str, str]:
    return {k: tag(k, val) for k, val in (items or {}).items()}


def text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Parameter '{what}' must be a string.")
    if len(value) > limit:
        raise InvalidParameterValue(f"Parameter '{what}' had length {len(value)}, which exceeded length limit of {limit}")
    return v.refuse_nul(value, what)


def max_results(value: object, default: int, limit: int) -> int:
    if value is None:
        return default
    return v.validate_max_results(value, limit)
