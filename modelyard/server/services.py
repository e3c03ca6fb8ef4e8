"""What the server's handlers work with, built once per app (never module-global): the typed
services of each domain and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.artifacts.service import PROXY_SCHEME, ArtifactService
from modelyard.registry.service import RegistryService
from modelyard.search import paging
from modelyard.server.backend import artifacts_destination, backend_store_uri, open_tracking_store
from modelyard.settings import Settings
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
    # PostgreSQL's hot writes awaited on the event loop (modelyard.tracking.loop_writes), when the
    # tracking store offers them; its connections open in the worker, on first use
    loop_writes: Any = None

    def __post_init__(self) -> None:
        if self.offload is None:
            sql = self.settings.sql  # one thread per pooled connection: a thread never waits for one
            self.offload = Offload(sql.pool_size + sql.max_overflow)
        if self.loop_writes is None:
            from modelyard.tracking.loop_writes import LoopWrites

            self.loop_writes = LoopWrites.open(self.tracking.store, self.settings)
        if self.registry is None:
            from modelyard.registry.runtime import attach_registry

            attach_registry(self)
        if self.jobs is None and getattr(self.tracking.store, "engine", None) is not None:
            from modelyard.jobs.service import JobService

            # the tracking store migrated its database: the jobs tables are there (no has_table checks)
            self.jobs = JobService.from_engine(self.tracking.store.engine, create_schema=False)
            if self.settings.jobs.scheduler:
                from modelyard.jobs.scheduler import for_server

                self.scheduler = for_server(  # started by start() (the app's lifespan)
                    self.jobs,
                    self.tracking,
                    self.registry,
                    self.settings,
                    backend_store_uri(self.settings),
                    self.artifacts,
                )

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        store = open_tracking_store(settings)  # refuses an http(s) URI before opening anything
        paging.use_secret(settings.server.page_token_secret)
        serving = artifacts_destination(settings) if settings.server.serve_artifacts else ""
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

    async def close_loop_writes(self) -> None:
        """Close the event loop's connections (the app's lifespan, at shutdown, before ``close``)."""
        if self.loop_writes is not None:
            await self.loop_writes.close()

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
