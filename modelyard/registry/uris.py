"""Registered-model URIs: ``models:/<name>/<version>``, ``models:/<name>/<stage>``,
``models:/<name>/latest`` and ``models:/<name>@<alias>`` (each optionally followed by
``/<path>`` inside the model), resolved to the artifact URI of the version's files.

``resolve_registry_uri(uri, client)`` is the ``"registry"`` resolver of
``modelyard.models.uri.RESOLVERS``, so every API that accepts a model URI accepts these. Against a
modelyard server it is one request (``GET /mlflow/model-versions/resolve``); against an MLflow
server it falls back to MLflow's own calls (alias / latest-versions, then get-download-uri).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient


def parse_registry_uri(uri: str) -> tuple[str, str, str]:
    """``(name, selector, path)``; selector is a version, a stage, ``latest`` or ``@alias``."""
    if not isinstance(uri, str) or not uri.startswith("models:"):
        raise InvalidParameterValue(f"Not a registered-model URI: {uri!r}")
    ref = uri[len("models:") :]
    if ref.startswith("//"):
        raise InvalidParameterValue(f"Invalid model URI {uri!r}: models:/ URIs name no host")
    parts = [p for p in ref.lstrip("/").split("/")]
    if not parts or not parts[0]:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}: expected models:/<name>/<version> or models:/<name>@<alias>")
    if "@" in parts[0]:
        name, _, alias = parts[0].rpartition("@")
        selector, rest = "@" + alias, parts[1:]
        if not name or not alias:
            raise InvalidParameterValue(f"Invalid model URI {uri!r}: expected models:/<name>@<alias>")
    else:
        if len(parts) < 2 or not parts[1]:
            raise InvalidParameterValue(
                f"Invalid model URI {uri!r}: expected models:/<name>/<version|stage|latest> or models:/<name>@<alias>"
            )
        name, selector, rest = parts[0], parts[1], parts[2:]
    if any(p in ("", ".", "..") for p in rest):
        raise InvalidParameterValue(f"Invalid model URI {uri!r}: bad path segments")
    return name, selector, "/".join(rest)


def resolve_version(registry, name: str, selector: str) -> tuple[str, str]:
    """``(version, artifact URI of its files)`` for a version, stage, ``latest`` or ``@alias``.

    One request to a modelyard server (``model-versions/resolve``); against an MLflow server,
    MLflow's own calls (alias / latest-versions, then get-download-uri).
    """
    try:
        mv, location = registry.resolve_download_uri(name, selector)
        return str(mv.version), location
    except ResourceDoesNotExist as exc:
        if exc.error_code != "ENDPOINT_NOT_FOUND":
            raise
    if selector.startswith("@"):
        version = registry.get_model_version_by_alias(name, selector[1:]).version
    elif selector.isdigit():
        version = selector
    elif selector.lower() == "latest":
        found = registry.get_latest_versions(name)
        if not found:
            raise ResourceDoesNotExist(f"No versions of model with name '{name}' found")
        version = max(found, key=lambda mv: int(mv.version)).version
    else:
        found = registry.get_latest_versions(name, [selector])
        if not found:
            raise ResourceDoesNotExist(f"No versions of model with name '{name}' and stage '{selector}' found")
        version = found[0].version
    return str(version), registry.get_model_version_download_uri(name, version)


def resolve_registry_uri(uri: str, client: TrackingClient) -> str:
    """The artifact URI holding the files of the version ``uri`` names (through the client's registry
    service: ``RegistryService.resolve_model_uri``)."""
    return client.resolve_model_uri(uri)
