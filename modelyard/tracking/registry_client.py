"""The model-registry half of ``TrackingClient`` / ``MlflowClient`` (a mixin).

Method names and signatures are MLflow's ``MlflowClient`` registry methods, so registry code
written for MLflow runs unchanged; modelyard adds the promotion history (``get_alias_history``,
``get_promotion_history``), lineage (``get_model_version_lineage``,
``get_logged_model_registrations``), ``resolve_model_uri`` and the webhook delivery log. The
registry lives next to the tracking store: in the same database, or on the same server. Changes
are recorded as made by ``Settings.client.user`` (else the login name); a server may record the user it
authenticated instead.
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
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists

if TYPE_CHECKING:
    from modelyard.settings import Settings


def _tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(val) for k, val in (tags or {}).items()}


class RegistryClientMixin:
    settings: Settings
    store: Any

    @property
    def registry_store(self):
        """The registry store next to this client's tracking store."""
        from modelyard.store.registry import registry_store_for

        return registry_store_for(self.store, self.settings)

    def _registry_user(self) -> str:
        from modelyard.settings import login_name

        return self.settings.client.user or login_name()

    # -- registered models ------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        return self.registry_store.create_registered_model(
            name, _tags(tags), description, deployment_job_id, user_id=self._registry_user()
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry_store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.registry_store.rename_registered_model(name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self.registry_store.update_registered_model(name, description, deployment_job_id)

    def delete_registered_model(self, name: str) -> None:
        self.registry_store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self.registry_store.search_registered_models(filter_string, max_results, order_by, page_token)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry_store.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry_store.delete_registered_model_tag(name, key)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return self.registry_store.get_latest_versions(name, stages)

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
        return self.registry_store.create_model_version(
            name, source, run_id, _tags(tags), run_link, description, model_id, user_id=self._registry_user()
        )

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version ``src_model_uri`` (``models:/<name>/<version>`` or ``@alias``) into the
        model ``dst_name`` (created if missing) as its next version, keeping its lineage."""
        from modelyard.registry.uris import parse_registry_uri

        name, selector, _ = parse_registry_uri(src_model_uri)
        src, _ = self.registry_store.resolve_download_uri(name, selector)
        try:
            self.create_registered_model(dst_name)
        except ResourceAlreadyExists:
            pass
        return self.create_model_version(
            dst_name,
            f"models:/{src.name}/{src.version}",
            run_id=src.run_id,
            tags=src.tags,
            description=src.description,
            model_id=src.model_id,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.registry_store.get_model_version(name, str(version))

    def update_model_version(self, name: str, version: str | int, description: str | None = None) -> ModelVersion:
        return self.registry_store.update_model_version(name, str(version), description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.registry_store.delete_model_version(name, str(version), user_id=self._registry_user())

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self.registry_store.search_model_versions(filter_string, max_results, order_by, page_token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self.registry_store.get_model_version_download_uri(name, str(version))

    def get_model_version_stages(self, name: str, version: str | int) -> list[str]:
        return ["None", "Staging", "Production", "Archived"]

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self.registry_store.transition_model_version_stage(
            name, str(version), stage, archive_existing_versions, user_id=self._registry_user()
        )

    def _version_for(self, name: str, version: str | int | None, stage: str | None) -> str:
        if version is not None and stage is not None:
            raise InvalidParameterValue("version and stage cannot be set together")
        if version is not None:
            return str(version)
        if stage is None:
            raise InvalidParameterValue("version or stage must be set")
        latest = self.get_latest_versions(name, [stage])
        if not latest:
            raise InvalidParameterValue(f"Could not find any model version for {stage} stage")
        return latest[0].version

    def set_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, value: Any = None, stage: str | None = None
    ) -> None:
        self.registry_store.set_model_version_tag(name, self._version_for(name, version, stage), key, str(value))

    def delete_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, stage: str | None = None
    ) -> None:
        self.registry_store.delete_model_version_tag(name, self._version_for(name, version, stage), key)

    # -- aliases ----------------------------------------------------------------------------------
    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str | None = None
    ) -> None:
        """Point ``alias`` at ``version``; ``reason`` (modelyard) is kept in the promotion history."""
        self.registry_store.set_registered_model_alias(
            name, alias, str(version), user_id=self._registry_user(), reason=reason
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry_store.delete_registered_model_alias(name, alias, user_id=self._registry_user())

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry_store.get_model_version_by_alias(name, alias)

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
        return self.registry_store.get_promotion_history(name, alias, stage, max_results, page_token)

    def get_alias_history(self, name: str, alias: str) -> list[PromotionEvent]:
        """Every move of one alias, newest first: who moved it, when, from which version to which."""
        events: list[PromotionEvent] = []
        token = None
        while True:
            page = self.registry_store.get_promotion_history(name, alias, None, 1000, token)
            events.extend(page)
            if not (token := page.token):
                return events

    def get_model_version_lineage(self, name: str, version: str | int) -> dict:
        """``{"model_version", "logged_model", "run", "experiment"}`` of a version."""
        return self.registry_store.get_model_version_lineage(name, str(version))

    def get_logged_model_registrations(self, model_id: str) -> list[ModelVersion]:
        return self.registry_store.get_logged_model_registrations(model_id)

    def resolve_model_uri(self, model_uri: str) -> str:
        """The artifact URI of ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``."""
        from modelyard.registry.uris import resolve_registry_uri

        return resolve_registry_uri(model_uri, self)  # type: ignore[arg-type]

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
        return self.registry_store.create_webhook(name, url, list(events), description, secret, status and str(status))

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.registry_store.get_webhook(webhook_id)

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList[Webhook]:
        return self.registry_store.list_webhooks(max_results or 100, page_token)

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
        return self.registry_store.update_webhook(
            webhook_id, name, description, url, list(events) if events else None, secret, status and str(status)
        )

    def delete_webhook(self, webhook_id: str) -> None:
        self.registry_store.delete_webhook(webhook_id)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | str | dict | None = None) -> WebhookTestResult:
        store = self.registry_store
        if hasattr(store, "test_webhook"):  # a server sends it
            return store.test_webhook(webhook_id, event)
        from modelyard.registry.dispatcher import test_webhook

        return test_webhook(store, webhook_id, event, self.settings)

    def list_webhook_deliveries(
        self, webhook_id: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[WebhookDelivery]:
        return self.registry_store.list_webhook_deliveries(webhook_id, max_results, page_token)
