"""The SQL registry store: the model registry in the tracking database (SQLite, PostgreSQL, MySQL).

It shares the tracking store's ``Database`` (the SQL kernel: one engine, one writer queue, one
migration chain), so a version's source is checked against runs and logged models in the same
transaction that creates it. Every public method is one ``Database.read()`` / ``write()``
transaction, which translates database errors to the modelyard error tree. Webhook deliveries
queued by a change (on the kernel's durable queue) are announced to ``on_queued`` (the server's
delivery worker) after commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection

from modelyard.entities import ModelVersion, PagedList, PromotionEvent, RegisteredModel, Webhook, WebhookEvent
from modelyard.settings import Settings
from modelyard.store.registry import base, checks
from modelyard.store.registry.sql import (
    aliases,
    deliveries,
    lineage,
    models,
    outbox,
    search,
    versions,
    webhooks,
)
from modelyard.store.sql.database import Database


class SqlRegistryStore(base.RegistryStore):
    def __init__(
        self,
        database: Database,
        *,
        allow_private_webhook_targets: bool = False,
        on_queued: Callable[[int], None] | None = None,
    ) -> None:
        self.db = database
        self.engine = database.engine
        self._read = database.read
        self.allow_private_webhook_targets = allow_private_webhook_targets
        self.on_queued = on_queued

    @classmethod
    def from_tracking_store(cls, tracking_store, settings: Settings | None = None) -> SqlRegistryStore:
        """The registry in ``tracking_store``'s database (a ``SqlTrackingStore``, already migrated):
        the same ``Database``, so registry and tracking writes share one writer queue."""
        settings = settings or Settings()
        return cls(tracking_store.db, allow_private_webhook_targets=settings.server.webhook_allow_private_targets)

    def __repr__(self) -> str:
        return f"SqlRegistryStore({self.engine.url.render_as_string()!r})"

    # -- transactions (the kernel's, plus waking the delivery worker after commit) -------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        queued = 0
        with self.db.write() as conn:
            outbox.take_queued(conn)
            try:
                yield conn
            finally:
                queued = outbox.take_queued(conn)
        if queued and self.on_queued is not None:
            self.on_queued(queued)

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(self, name, tags=None, description=None, deployment_job_id=None, *, user_id=None):
        with self._write() as conn:
            return models.create(conn, name, tags, description, deployment_job_id, user_id)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return models.load(conn, name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        with self._write() as conn:
            return models.rename(conn, name, new_name)

    def update_registered_model(self, name, description=None, deployment_job_id=None) -> RegisteredModel:
        with self._write() as conn:
            return models.update_fields(conn, name, description, deployment_job_id)

    def delete_registered_model(self, name: str) -> None:
        with self._write() as conn:
            models.remove(conn, name)

    def search_registered_models(
        self, filter_string=None, max_results=base.SEARCH_REGISTERED_MODELS_DEFAULT, order_by=None, page_token=None
    ) -> PagedList[RegisteredModel]:
        limit = checks.max_results(
            max_results, base.SEARCH_REGISTERED_MODELS_DEFAULT, base.SEARCH_REGISTERED_MODELS_MAX
        )
        with self._read() as conn:
            return search.search_models(conn, filter_string, limit, order_by, page_token)

    def search_registered_models_wire(
        self, filter_string=None, max_results=base.SEARCH_REGISTERED_MODELS_DEFAULT, order_by=None, page_token=None
    ) -> tuple[list[dict], str | None]:
        """The server's fast path: the same search as MLflow's JSON dicts, ready for ``orjson.dumps``
        (no entities; tags may be pre-serialized JSON fragments)."""
        limit = checks.max_results(
            max_results, base.SEARCH_REGISTERED_MODELS_DEFAULT, base.SEARCH_REGISTERED_MODELS_MAX
        )
        with self._read() as conn:
            return search.search_models_wire(conn, filter_string, limit, order_by, page_token, as_json=True)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with self._write() as conn:
            models.set_tag(conn, name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._write() as conn:
            models.delete_tag(conn, name, key)

    # -- model versions ------------------------------------------------------------------------
    def create_model_version(
        self, name, source, run_id=None, tags=None, run_link=None, description=None, model_id=None, *, user_id=None
    ) -> ModelVersion:
        with self._write() as conn:
            return versions.create(conn, name, source, run_id, tags, run_link, description, model_id, user_id)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        with self._read() as conn:
            return versions.load(conn, name, version)

    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        with self._write() as conn:
            return versions.update_description(conn, name, version, description)

    def delete_model_version(self, name: str, version: str | int, *, user_id: str | None = None) -> None:
        with self._write() as conn:
            versions.tombstone(conn, name, version, user_id)

    def search_model_versions(
        self, filter_string=None, max_results=base.SEARCH_MODEL_VERSIONS_DEFAULT, order_by=None, page_token=None
    ) -> PagedList[ModelVersion]:
        limit = checks.max_results(max_results, base.SEARCH_MODEL_VERSIONS_DEFAULT, base.SEARCH_MODEL_VERSIONS_MAX)
        with self._read() as conn:
            return search.search_versions(conn, filter_string, limit, order_by, page_token)

    def search_model_versions_wire(
        self, filter_string=None, max_results=base.SEARCH_MODEL_VERSIONS_DEFAULT, order_by=None, page_token=None
    ) -> tuple[list[dict], str | None]:
        """The server's fast path: the same search as MLflow's JSON dicts, ready for ``orjson.dumps``
        (no entities; tags may be pre-serialized JSON fragments)."""
        limit = checks.max_results(max_results, base.SEARCH_MODEL_VERSIONS_DEFAULT, base.SEARCH_MODEL_VERSIONS_MAX)
        with self._read() as conn:
            return search.search_versions_wire(conn, filter_string, limit, order_by, page_token, as_json=True)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        with self._write() as conn:
            versions.set_tag(conn, name, version, key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        with self._write() as conn:
            versions.delete_tag(conn, name, version, key)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        with self._read() as conn:
            return versions.download_uri(conn, name, version)

    def transition_model_version_stage(
        self, name, version, stage, archive_existing_versions=False, *, user_id=None
    ) -> ModelVersion:
        with self._write() as conn:
            return versions.transition(conn, name, version, stage, bool(archive_existing_versions), user_id)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        with self._read() as conn:
            return versions.latest(conn, name, stages)

    # -- aliases ---------------------------------------------------------------------------------
    def set_registered_model_alias(self, name, alias, version, *, user_id=None, reason=None) -> None:
        with self._write() as conn:
            aliases.set_alias(conn, name, alias, version, user_id, reason=reason)

    def delete_registered_model_alias(self, name, alias, *, user_id=None) -> None:
        with self._write() as conn:
            aliases.delete_alias(conn, name, alias, user_id)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            return aliases.by_alias(conn, name, alias)

    def resolve_download_uri(self, name: str, selector: str) -> tuple[ModelVersion, str]:
        """``models:/<name>/<selector>`` in one read: a version number, a stage, ``latest`` or
        ``@alias``; returns the version and where its files are."""
        with self._read() as conn:
            found = lineage.registry_version(conn, name, selector)
            version = versions.load(conn, name, found.version)
            return version, found.storage_location or found.source

    # -- history and lineage ---------------------------------------------------------------------
    def get_promotion_history(
        self, name, alias=None, stage=None, max_results=base.HISTORY_DEFAULT, page_token=None
    ) -> PagedList[PromotionEvent]:
        limit = checks.max_results(max_results, base.HISTORY_DEFAULT, base.HISTORY_MAX)
        with self._read() as conn:
            return aliases.get_history(conn, name, alias, stage, limit, page_token)

    def get_model_version_lineage(self, name: str, version: str | int) -> dict:
        with self._read() as conn:
            _, row = versions.row(conn, name, version)
            out = lineage.lineage(conn, row)
            out["model_version"] = versions.load(conn, name, version)
            return out

    def get_logged_model_registrations(self, model_id: str) -> list[ModelVersion]:
        with self._read() as conn:
            return versions.registrations(conn, model_id)

    def link_logged_model(self, model_id: str, name: str, version: str) -> None:
        with self._write() as conn:
            lineage.link_logged_model(conn, model_id, name, str(version))

    # -- webhooks --------------------------------------------------------------------------------
    def create_webhook(self, name, url, events, description=None, secret=None, status=None) -> Webhook:
        allow = self.allow_private_webhook_targets
        with self._write() as conn:
            return webhooks.create(conn, name, url, events, description, secret, status, allow)

    def get_webhook(self, webhook_id: str) -> Webhook:
        with self._read() as conn:
            return webhooks.get(conn, webhook_id)

    def list_webhooks(self, max_results=base.WEBHOOKS_DEFAULT, page_token=None) -> PagedList[Webhook]:
        limit = checks.max_results(max_results, base.WEBHOOKS_DEFAULT, base.WEBHOOKS_MAX)
        with self._read() as conn:
            return webhooks.list_page(conn, limit, page_token)

    def update_webhook(
        self, webhook_id, name=None, description=None, url=None, events=None, secret=None, status=None
    ) -> Webhook:
        allow = self.allow_private_webhook_targets
        with self._write() as conn:
            return webhooks.update_fields(conn, webhook_id, name, description, url, events, secret, status, allow)

    def delete_webhook(self, webhook_id: str) -> None:
        with self._write() as conn:
            webhooks.remove(conn, webhook_id)

    def list_webhook_deliveries(self, webhook_id, max_results=base.WEBHOOKS_DEFAULT, page_token=None):
        limit = checks.max_results(max_results, base.WEBHOOKS_DEFAULT, base.WEBHOOKS_MAX)
        with self._read() as conn:
            return webhooks.list_deliveries(conn, webhook_id, limit, page_token)

    # -- the delivery worker's side (not part of the protocol: only the server delivers) ---------
    def claim_webhook_deliveries(self, limit: int, lease_ms: int, worker_id: str = "worker") -> list[dict]:
        with self._write() as conn:
            return deliveries.claim_due(conn, limit, lease_ms, worker_id)

    def next_webhook_delivery_due(self) -> int | None:
        with self._read() as conn:
            return deliveries.next_due(conn)

    def settle_webhook_delivery(self, claim: dict, **outcome) -> None:
        """Record a claimed delivery's attempt in the queue and the delivery log, in one transaction."""
        with self._write() as conn:
            deliveries.settle(conn, claim, **outcome)

    def finish_webhook_delivery(self, delivery_id: str, **result) -> None:
        with self._write() as conn:
            deliveries.finish(conn, delivery_id, **result)

    def start_webhook_test(self, webhook_id: str, event: WebhookEvent, payload: str) -> tuple[str, str, str | None]:
        with self._write() as conn:
            return deliveries.record_test(conn, webhook_id, event, payload)
