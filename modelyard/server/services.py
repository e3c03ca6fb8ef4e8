"""What the server's handlers work with, built once per app (never module-global)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from modelyard.settings import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, Settings
from modelyard.store.tracking.base import TrackingStore

PROXY_SCHEME = "mlflow-artifacts"


@dataclass
class Services:
    settings: Settings
    tracking: TrackingStore
    artifacts_destination: str  # root of the proxied artifact store ("" when not serving artifacts)
    registry: Any = None  # the model registry (a RegistryStore), built on the tracking store
    webhooks: Any = None  # the webhook delivery worker (modelyard.registry.dispatcher)

    def __post_init__(self) -> None:
        if self.registry is None:
            from modelyard.registry.runtime import attach_registry

            attach_registry(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        from modelyard.store.tracking.sql.store import SqlTrackingStore

        uri = backend_store_uri(settings)
        destination = settings.server.artifacts_destination or os.path.abspath(DEFAULT_ARTIFACTS_DIR)
        if settings.artifacts.default_root:
            root = settings.artifacts.default_root
        elif settings.server.serve_artifacts:
            root = f"{PROXY_SCHEME}:"
        else:
            root = destination
        store = SqlTrackingStore.from_uri(uri, settings, default_artifact_root=root)
        return cls(settings, store, destination if settings.server.serve_artifacts else "")

    def artifact_repository(self):
        """The repository behind mlflow-artifacts:/ (the --artifacts-destination)."""
        from modelyard.artifacts import get_artifact_repository

        return get_artifact_repository(self.artifacts_destination, settings=self.settings)

    def start(self) -> None:
        """Start the background workers (webhook delivery); the app's lifespan calls it."""
        if self.webhooks is not None:
            self.webhooks.start()

    def close(self) -> None:
        """Stop the background workers and close the stores (the app's lifespan, at shutdown)."""
        if self.webhooks is not None:
            self.webhooks.stop()
        self.tracking.close()


def backend_store_uri(settings: Settings) -> str:
    if settings.server.backend_store_uri:
        return settings.server.backend_store_uri
    if settings.client.tracking_uri and not settings.client.tracking_uri.startswith(("http://", "https://")):
        return settings.client.tracking_uri
    return "sqlite:///" + os.path.abspath(DEFAULT_DB_FILE)
