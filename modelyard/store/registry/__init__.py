"""Model registry stores: the protocol (``base``), SQL (``sql``, in the tracking database) and REST.

``registry_store_for(tracking_store)`` gives the registry that goes with a tracking store: the SQL
registry on the same database, or the REST registry on the same server (and HTTP connection). The
table ``modelyard.plugins.REGISTRY_STORES`` maps tracking-store classes to registry factories.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_lock = threading.Lock()
_stores: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def registry_store_for(tracking_store: Any, settings: Any = None) -> Any:
    """The registry store sharing ``tracking_store``'s database or server (one per tracking store)."""
    found = _stores.get(tracking_store)
    if found is not None:
        return found
    with _lock:
        found = _stores.get(tracking_store)
        if found is None:
            from modelyard.plugins import REGISTRY_STORES, load_object

            name = type(tracking_store).__name__
            dotted = REGISTRY_STORES.get(name)
            if dotted is None:
                from modelyard.exceptions import NotImplementedFeature

                raise NotImplementedFeature(f"No model registry for a {name}; known: {', '.join(REGISTRY_STORES)}")
            found = load_object(dotted)(tracking_store, settings)
            _stores[tracking_store] = found
    return found
