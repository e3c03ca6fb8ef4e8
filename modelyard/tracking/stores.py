"""Which tracking store a URI names, and one cached store per URI in this process.

Tracking URI precedence (written down once): an explicit argument > ``set_tracking_uri()``
> ``MODELYARD_TRACKING_URI`` > ``MLFLOW_TRACKING_URI`` > the embedded default, a SQLite
file ``modelyard.db`` in the working directory.
"""

from __future__ import annotations

import atexit
import os
import threading
from urllib.parse import urlsplit

from modelyard.exceptions import InvalidParameterValue
from modelyard.settings import DEFAULT_DB_FILE, Settings, connection_key

_lock = threading.Lock()
_stores: dict[tuple[str, ...], object] = {}


def default_tracking_uri() -> str:
    return "sqlite:///" + os.path.abspath(DEFAULT_DB_FILE)


def resolve_tracking_uri(explicit: str | None, settings: Settings) -> str:
    uri = explicit or settings.client.tracking_uri or default_tracking_uri()
    return normalize_tracking_uri(uri)


def normalize_tracking_uri(uri: str) -> str:
    """Accept a path to a ``.db`` file as SQLite; refuse file stores with a way forward."""
    scheme = urlsplit(uri).scheme
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        path = uri[len("file://") :] if uri.startswith("file://") else uri
        if path.endswith((".db", ".sqlite", ".sqlite3")):
            return "sqlite:///" + os.path.abspath(path)
        raise InvalidParameterValue(
            f"Tracking URI {uri!r} names a folder: modelyard keeps runs in a database. "
            f"Use sqlite:///{os.path.join(path, 'modelyard.db') if path else 'modelyard.db'} "
            "or a server URL (http://host:port)."
        )
    return uri


def get_store(uri: str, settings: Settings):
    """The tracking store for ``uri`` (created once per process and connection identity: URI,
    credentials and artifact root, ``settings.connection_key``, and reused)."""
    key = connection_key(uri, settings)
    store = _stores.get(key)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(key)
        if store is None:
            from modelyard.plugins import TRACKING_STORES, resolve

            factory = resolve(TRACKING_STORES, "modelyard.tracking_store", urlsplit(uri).scheme, "tracking store")
            store = factory(uri, settings)
            _stores[key] = store
    return store


@atexit.register
def clear_store_cache() -> None:
    """Close and forget every cached store (tests, and after fork)."""
    with _lock:
        for store in _stores.values():
            store.close()  # type: ignore[attr-defined]
        _stores.clear()
