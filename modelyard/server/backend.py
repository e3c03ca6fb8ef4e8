"""The server's backend store: its URI, the artifact root of new experiments, and opening it.

Kept apart from ``services`` (which imports every domain's service) so that ``modelyard server``'s
database check imports only the store it opens, not the web app.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from modelyard.exceptions import InvalidParameterValue
from modelyard.settings import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, Settings

PROXY_SCHEME = "mlflow-artifacts"  # the artifact proxy's URIs (modelyard.artifacts.service)


def backend_store_uri(settings: Settings) -> str:
    if settings.server.backend_store_uri:
        return settings.server.backend_store_uri
    if settings.client.tracking_uri and not settings.client.tracking_uri.startswith(("http://", "https://")):
        return settings.client.tracking_uri
    return "sqlite:///" + os.path.abspath(DEFAULT_DB_FILE)


def artifacts_destination(settings: Settings) -> str:
    """Where proxied artifacts are stored."""
    return settings.server.artifacts_destination or os.path.abspath(DEFAULT_ARTIFACTS_DIR)


def default_artifact_root(settings: Settings) -> str:
    """The artifact location of new experiments (experiment "0" included)."""
    if settings.artifacts.default_root:
        return settings.artifacts.default_root
    if settings.server.serve_artifacts:
        return f"{PROXY_SCHEME}:"
    return artifacts_destination(settings)


def open_tracking_store(settings: Settings) -> Any:
    """The tracking store of ``settings``' backend URI (opening a SQL store creates the schema of an
    empty database and refuses one at another revision: ``modelyard.store.sql.migrate``)."""
    from modelyard.plugins import TRACKING_STORES, resolve

    uri = backend_store_uri(settings)
    if urlsplit(uri).scheme in ("http", "https"):
        raise InvalidParameterValue(
            f"The server keeps runs in a database: {uri!r} is a tracking server, not a backend store URI"
        )
    factory = resolve(TRACKING_STORES, "modelyard.tracking_store", urlsplit(uri).scheme, "tracking store")
    return factory(uri, settings, default_artifact_root=default_artifact_root(settings))
