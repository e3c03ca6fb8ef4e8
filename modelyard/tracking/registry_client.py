"""The model-registry half of ``TrackingClient`` / ``MlflowClient`` (a mixin).

Method names and signatures are MLflow's ``MlflowClient`` registry methods, so registry code
written for MLflow runs unchanged; modelyard adds the promotion history (``get_alias_history``,
``get_promotion_history``), lineage (``get_model_version_lineage``,
``get_logged_model_registrations``), ``resolve_model_uri`` and the webhook delivery log. The
registry lives next to the tracking store: in the same database, or on the same server. Every method
calls one ``RegistryService`` method with the client's ``RequestContext``, so changes are recorded as
made by its principal, ``Settings.client.user`` (else the login name); a server may record the user
it authenticated instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.entities import (
    ModelVersion,
    PagedList,
    PromotionEvent,
    RegisteredModel,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookTestResult,
)

if TYPE_CHECKING:
    from modelyard.auth.context import RequestContext
    from modelyard.registry.service import RegistryService
    from modelyard.settings import Settings


def _tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(val) for k, val in (tags or {}).items()}


class RegistryClientMixin:
    settings: Settings
    store: Any
    context: RequestContext
    _registry_service: RegistryService | None = None

    @property
    def registry_store(self):
        """The registry store next to this client's tracking store."""
        from modelyard.store.registry import registry_store_for

        return registry_store_for(self.store, self.settings)

    @property
    def registry_service(self) -> RegistryService:
        """The registry service every registry method calls (over ``registry_store``)."""
        if self._registry_service is None:
            from modelyard.registry.service import RegistryService

            self._registry_service = RegistryService(self.registry_store)
        return self._registry_service

    # -- registered models ------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        return self.registry_service.create_registered_model(
            self.context, name, _tags(tags), description, deployment_job_id
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry_service.get_registered_model(self.context, name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.registry_service.rename_registered_model(self.context, name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self.registry_service.update_registered_model(self.context, name, description, deployment_job_id)

    def delete_registered_model(self, name: str) -> None:
        self.registry_service.delete_registered_model(self.context, name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self.registry_service.search_registered_models(self.context, filter_string, max_results, order_by, page_token)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry_service.set_registered_model_tag(self.context, name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry_service.delete_registered_model_tag(self.context, name, key)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return self.registry_service.get_latest_versions(self.context, name, stages)

    # -- model versions --------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Versions are READY when created (``await_creation_for`` is accepted for MLflow's sake)."""
        return self.registry_service.create_model_version(
            self.context, name, source, run_id, _tags(tags), run_link, description, model_id
        )

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version ``src_model_uri`` (``models:/<name>/<version>`` or ``@alias``) into the
        model ``dst_name`` (created if missing) as its next version, keeping its lineage."""
        return self.registry_service.copy_model_version(self.context, src_model_uri, dst_name)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.registry_service.get_model_version(self.context, name, str(version))

    def update_model_version(self, name: str, version: str | int, description: str | None = None) -> ModelVersion:
        return self.registry_service.update_model_version(self.context, name, str(version), description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.registry_service.delete_model_version(self.context, name, str(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self.registry_service.search_model_versions(self.context, filter_string, max_results, order_by, page_token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self.registry_service.get_model_version_download_uri(self.context, name, str(version))

    def get_model_version_stages(self, name: str, version: str | int) -> list[str]:
        return ["None", "Staging", "Production", "Archived"]

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self.registry_service.transition_model_version_stage(
            self.context, name, str(version), stage, archive_existing_versions
        )

    def set_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, value: Any = None, stage: str | None = None
    ) -> None:
        """Tag a version, named by number or (MLflow's old way) by ``stage``: its newest version there."""
        self.registry_service.set_model_version_tag(
            self.context, name, None if version is None else str(version), key, str(value), stage=stage
        )

    def delete_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, stage: str | None = None
    ) -> None:
        self.registry_service.delete_model_version_tag(
            self.context, name, None if version is None else str(version), key, stage=stage
        )

    # -- aliases ----------------------------------------------------------------------------------
    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str | None = None
    ) -> None:
        """Point ``alias`` at ``version``; ``reason`` (modelyard) is kept in the promotion history."""
        self.registry_service.set_registered_model_alias(
            self.context, name, alias, str(version), reason=reason
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry_service.delete_registered_model_alias(self.context, name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry_service.get_model_version_by_alias(self.context, name, alias)

    # -- modelyard: history, lineage, URIs ----------------------------------------------------------
    def get_promotion_history(
        self,
        name: str,
        alias: str | None = None,
        stage: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[PromotionEvent]:
        """Alias moves and stage transitions of a model, newest first (one page)."""
        return self.registry_service.get_promotion_history(self.context, name, alias, stage, max_results, page_token)

    def get_alias_history(self, name: str, alias: str) -> list[PromotionEvent]:
        """Every move of one alias, newest first: who moved it, when, from which version to which."""
        events: list[PromotionEvent] = []
        token = None
        while True:
            page = self.registry_service.get_promotion_history(self.context, name, alias, None, 1000, token)
            events.extend(page)
            if not (token := page.token):
                return events

    def get_model_version_lineage(self, name: str, version: str | int) -> dict:
        """``{"model_version", "logged_model", "run", "experiment"}`` of a version."""
        return self.registry_service.get_model_version_lineage(self.context, name, str(version))

    def get_logged_model_registrations(self, model_id: str) -> list[ModelVersion]:
        return self.registry_service.get_logged_model_registrations(self.context, model_id)

    def resolve_model_uri(self, model_uri: str) -> str:
        """The artifact URI of ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``."""
        return self.registry_service.resolve_model_uri(self.context, model_uri)

    def resolve_model_version(self, name: str, selector: str) -> tuple[str, str]:
        """``(version, artifact URI of its files)`` of ``models:/<name>/<selector>`` (a version, stage,
        ``latest``) or, with ``selector="@alias"``, ``models:/<name>@<alias>``."""
        return self.registry_service.resolve_version(self.context, name, selector)

    # -- webhooks -----------------------------------------------------------------------------------
    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent | str | dict],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        return self.registry_service.create_webhook(self.context, name, url, list(events), description, secret, status and str(status))

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.registry_service.get_webhook(self.context, webhook_id)

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList[Webhook]:
        return self.registry_service.list_webhooks(self.context, max_results or 100, page_token)

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent | str | dict] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        return self.registry_service.update_webhook(
            self.context, webhook_id, name, description, url, list(events) if events else None, secret, status and str(status)
        )

    def delete_webhook(self, webhook_id: str) -> None:
        self.registry_service.delete_webhook(self.context, webhook_id)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | str | dict | None = None) -> WebhookTestResult:
        return self.registry_service.test_webhook(self.context, webhook_id, event, self.settings)

    def list_webhook_deliveries(
        self, webhook_id: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[WebhookDelivery]:
        return self.registry_service.list_webhook_deliveries(self.context, webhook_id, max_results, page_token)
