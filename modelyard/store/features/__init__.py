"""Feature-catalog stores: the protocol (``base``), SQL (``sql``, in the tracking database) and REST.

``feature_store_for(tracking_store)`` gives the catalog that goes with a tracking store: the SQL
catalog on the same database, or the REST catalog on the same server (and HTTP connection).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

# Tracking-store class name -> factory of the feature catalog next to it.
FEATURE_STORES: dict[str, str] = {
    "SqlTrackingStore": "modelyard.store.features.sql:SqlFeatureStore.from_tracking_store",
    "RestTrackingStore": "modelyard.store.features.rest:RestFeatureStore.from_tracking_store",
}

_lock = threading.Lock()
_stores: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def feature_store_for(tracking_store: Any, settings: Any = None) -> Any:
    """The feature catalog sharing ``tracking_store``'s database or server (one per tracking store)."""
    found = _stores.get(tracking_store)
    if found is not None:
        return found
    with _lock:
        found = _stores.get(tracking_store)
        if found is None:
            from modelyard.plugins import load_object

            name = type(tracking_store).__name__
            dotted = FEATURE_STORES.get(name)
            if dotted is None:
                from modelyard.exceptions import NotImplementedFeature

                raise NotImplementedFeature(f"No feature catalog for a {name}; known: {', '.join(FEATURE_STORES)}")
            found = load_object(dotted)(tracking_store, settings)
            _stores[tracking_store] = found
    return found
