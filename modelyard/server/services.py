"""What the server's handlers work with, built once per app (never module-global): the typed
services of each domain and the settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from modelyard.artifacts.service import PROXY_SCHEME, ArtifactService
from modelyard.exceptions import InvalidParameterValue
from modelyard.registry.service import RegistryService
from modelyard.search import paging
from modelyard.settings import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, Settings
from modelyard.tracking.service import TrackingService
from modelyard.web.offload import Offload

__all__ = ["PROXY_SCHEME", "Services", "backend_store_uri"]


@dataclass
class Services:
    settings: Settings
    tracking: TrackingService
    artifacts: ArtifactService
    registry: RegistryService | None = None  # the model registry, on the tracking store's database
    webhooks: Any = None  # the webhook delivery worker (modelyard.registry.dispatcher)
    jobs: Any = None  # workflows (modelyard.jobs.service.JobService), on the tracking store's database
    scheduler: Any = None  # the job scheduler, when this server runs one (modelyard server --scheduler)
    auth: Any = None  # authentication when it is on (modelyard.auth.runtime.AuthRuntime)
    offload: Offload = None  # type: ignore[assignment]  # the handlers' threads (made in __post_init__)

    def __post_init__(self) -> None:
        if self.offload is None:
            sql = self.settings.sql  # one thread per pooled connection: a thread never waits for one
            self.offload = Offload(sql.pool_size + sql.max_overflow)
        if self.registry is None:
            from modelyard.registry.runtime import attach_registry

            attach_registry(self)
        if self.jobs is None and getattr(self.tracking.store, "engine", None) is not None:
            from modelyard.jobs.service import JobService

            self.jobs = JobService.from_engine(self.tracking.store.engine)
            if self.settings.jobs.scheduler:
                from modelyard.jobs.scheduler import for_server

                self.scheduler = for_server(  # started by start() (the app's lifespan)
                    self.jobs, self.tracking, self.registry, self.settings, backend_store_uri(self.settings), self.artifacts
                )

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        from modelyard.plugins import TRACKING_STORES, resolve

        uri = backend_store_uri(settings)
        destination = settings.server.artifacts_destination or os.path.abspath(DEFAULT_ARTIFACTS_DIR)
        if settings.artifacts.default_root:
            root = settings.artifacts.default_root
        elif settings.server.serve_artifacts:
            root = f"{PROXY_SCHEME}:"
        else:
            root = destination
        if urlsplit(uri).scheme in ("http", "https"):
            raise InvalidParameterValue(
                f"The server keeps runs in a database: {uri!r} is a tracking server, not a backend store URI"
            )
        paging.use_secret(settings.server.page_token_secret)
        factory = resolve(TRACKING_STORES, "modelyard.tracking_store", urlsplit(uri).scheme, "tracking store")
        store = factory(uri, settings, default_artifact_root=root)
        serving = destination if settings.server.serve_artifacts else ""
        return cls(settings, TrackingService(store), ArtifactService(serving, settings))

    def feature_tables(self, ctx: Any) -> Any:
        """The feature-table service (``modelyard.features.service.FeatureTableService``) of one
        request, over the catalog in the server's database: what routes, pages and the authorizer call."""
        from modelyard.features.catalog import feature_service

        return feature_service(self, ctx)

    def inline_database(self):
        """The tracking database when a cheap handler may run on the event loop inside its
        ``nowait()`` (SQLite); None when every handler must run on a thread."""
        db = getattr(self.tracking.store, "db", None)
        return db if db is not None and getattr(db, "can_skip_waits", False) else None

    def start(self) -> None:
        """Start the background workers (webhook delivery, the audit log's writer); the app's
        lifespan calls it."""
        if self.webhooks is not None:
            self.webhooks.start()
        if self.scheduler is not None:
            self.scheduler.start()
        if self.auth is not None:
            self.auth.start()

    def close(self) -> None:
        """Stop the background workers and close the stores (the app's lifespan, at shutdown)."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.auth is not None:
            self.auth.close()
        if self.webhooks is not None:
            self.webhooks.stop()
        self.offload.close()
        self.tracking.close()


def backend_store_uri(settings: Settings) -> str:
    if settings.server.backend_store_uri:
        return settings.server.backend_store_uri
    if settings.client.tracking_uri and not settings.client.tracking_uri.startswith(("http://", "https://")):
        return settings.client.tracking_uri
    return "sqlite:///" + os.path.abspath(DEFAULT_DB_FILE)
