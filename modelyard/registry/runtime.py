"""The registry as a server runs it: the SQL registry store on the tracking database, and the
webhook delivery worker that the store wakes after commits that queued deliveries."""

from __future__ import annotations

from typing import Any

from modelyard.registry.dispatcher import WebhookDispatcher
from modelyard.registry.service import RegistryService
from modelyard.store.registry import registry_store_for


def attach_registry(services: Any) -> None:
    """Give ``services`` (``modelyard.server.services.Services``) its ``registry`` and ``webhooks``."""
    store = registry_store_for(services.tracking.store, services.settings)
    services.registry = RegistryService(store)
    if hasattr(store, "claim_webhook_deliveries"):
        services.webhooks = WebhookDispatcher(store, services.settings)  # the app's lifespan starts it
        store.on_queued = services.webhooks.wake


def swap_registry(services: Any, store: Any) -> Any:
    """Point ``services`` (and its delivery worker) at another registry store; returns the old one."""
    previous, services.registry.store = services.registry.store, store
    if services.webhooks is not None:
        services.webhooks.store = store
        store.on_queued = services.webhooks.wake
    return previous
