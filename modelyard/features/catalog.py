"""The feature catalog a tracking server uses: a SQL store in the server's own database.

One instance per tracking store (the REST routes and the web UI share it). New tables go under
the artifact root, or, when the server proxies artifacts, under its artifacts destination: Delta
needs a real location.
"""

from __future__ import annotations

import weakref
from typing import Any

_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def server_catalog(services: Any):
    """The ``SqlFeatureStore`` beside ``services.tracking.store``."""
    store = services.tracking.store
    found = _stores.get(store)
    if found is None:
        from modelyard.store.features.sql import SqlFeatureStore

        root = store.default_artifact_root
        if not root or root.startswith("mlflow-artifacts:"):
            root = services.artifacts.destination or root
        found = _stores[store] = SqlFeatureStore(store, artifact_root=root)
    return found


def feature_service(services: Any, ctx: Any):
    """The ``FeatureTableService`` of one request (``ctx``) over the server's catalog: what the
    feature routes, the feature pages and the authorizer call."""
    from modelyard.features.service import FeatureTableService

    return FeatureTableService(server_catalog(services), ctx)
