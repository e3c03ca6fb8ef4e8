"""The registry service: the one entry point for registered models, versions, aliases, stages,
promotion history, lineage and webhooks.

REST handlers, UI pages, the CLI and the clients call it with a ``RequestContext``; every change that
records an author (a new version, an alias move, a stage transition, a deletion) records the
request's principal, falling back to the ``user_id`` a client sent when the request has none. It
works on any ``RegistryStore`` (SQL or REST).
"""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.auth import visibility
from modelyard.auth.context import RequestContext
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
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.registry.dispatcher import test_webhook as send_test
from modelyard.registry.uris import parse_registry_uri, resolve_version
from modelyard.store.registry.base import (
    HISTORY_DEFAULT,
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    WEBHOOKS_DEFAULT,
    RegistryStore,
)
from modelyard.store.registry.checks import PROMPT_TAG


class RegistryService:
    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    def close(self) -> None:
        self.store.close()

    def create_registered_model(
        self,
        ctx: RequestContext,
        name: str,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> RegisteredModel:
        model = self.store.create_registered_model(
            name, tags, description, deployment_job_id, user_id=ctx.user(user_id)
        )
        visibility.created(ctx, "registered_model", model.name)  # the creator gets MANAGE on it
        return model

    def get_registered_model(self, ctx: RequestContext, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def rename_registered_model(self, ctx: RequestContext, name: str, new_name: str) -> RegisteredModel:
        model = self.store.rename_registered_model(name, new_name)
        visibility.renamed(ctx, "registered_model", name, new_name)
        return model

    def update_registered_model(
        self,
        ctx: RequestContext,
        name: str,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """``None`` leaves a field unchanged; ``""`` clears it."""
        return self.store.update_registered_model(name, description, deployment_job_id)

    def delete_registered_model(self, ctx: RequestContext, name: str) -> None:
        """Hard delete: versions, tags and aliases go too; the promotion history stays."""
        self.store.delete_registered_model(name)
        visibility.deleted(ctx, "registered_model", name)

    def search_registered_models(
        self,
        ctx: RequestContext,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Default order ``name ASC``. Prompts (tag ``mlflow.prompt.is_prompt = 'true'``) are left"""
        def fetch(token):
            return self.store.search_registered_models(filter_string, max_results, order_by, token)

        return visibility.readable_page(ctx, "registered_model", fetch, lambda m: m.name, page_token)

    def set_registered_model_tag(self, ctx: RequestContext, name: str, key: str, value: str) -> None:
        return self.store.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, ctx: RequestContext, name: str, key: str) -> None:
        return self.store.delete_registered_model_tag(name, key)

    def create_model_version(
        self,
        ctx: RequestContext,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source``, which must be an artifact location this tracking store owns:"""
        version = self.store.create_model_version(
            name, source, run_id, tags, run_link, description, model_id, user_id=ctx.user(user_id)
        )
        if model_id and (tags or {}).get(PROMPT_TAG) != "true":
            # As MLflow's server: the logged model's mlflow.modelVersions tag lists its registrations
            # (a logged model another server tracks has no tag here to update).
            try:
                self.store.link_logged_model(model_id, name, str(version.version))
            except ResourceDoesNotExist:
                pass
        return version

    def get_model_version(self, ctx: RequestContext, name: str, version: str | int) -> ModelVersion:
        return self.store.get_model_version(name, version)

    def update_model_version(
        self, ctx: RequestContext, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        return self.store.update_model_version(name, version, description)

    def delete_model_version(
        self, ctx: RequestContext, name: str, version: str | int, *, user_id: str | None = None
    ) -> None:
        """Tombstone the version (its number is never reused); aliases pointing at it are removed"""
        return self.store.delete_model_version(name, version, user_id=ctx.user(user_id))

    def search_model_versions(
        self,
        ctx: RequestContext,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Default order ``last_updated_timestamp DESC, name ASC, version_number DESC``."""
        def fetch(token):
            return self.store.search_model_versions(filter_string, max_results, order_by, token)

        return visibility.readable_page(ctx, "registered_model", fetch, lambda v: v.name, page_token)

    def set_model_version_tag(
        self,
        ctx: RequestContext,
        name: str,
        version: str | int | None,
        key: str,
        value: str,
        *,
        stage: str | None = None,
    ) -> None:
        """Tag a version named by number, or by ``stage`` (its newest version there; MLflow's clients)."""
        return self.store.set_model_version_tag(name, self._version_for(ctx, name, version, stage), key, value)

    def delete_model_version_tag(
        self, ctx: RequestContext, name: str, version: str | int | None, key: str, *, stage: str | None = None
    ) -> None:
        return self.store.delete_model_version_tag(name, self._version_for(ctx, name, version, stage), key)

    def _version_for(self, ctx: RequestContext, name: str, version: str | int | None, stage: str | None) -> str | int:
        if version is not None and stage is not None:
            raise InvalidParameterValue("version and stage cannot be set together")
        if version is not None:
            return version
        if stage is None:
            raise InvalidParameterValue("version or stage must be set")
        latest = self.store.get_latest_versions(name, [stage])
        if not latest:
            raise InvalidParameterValue(f"Could not find any model version for {stage} stage")
        return latest[0].version

    def copy_model_version(self, ctx: RequestContext, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version ``src_model_uri`` (``models:/<name>/<version>`` or ``@alias``) into the model
        ``dst_name`` (created if missing) as its next version, keeping its run, tags, description and
        logged model."""
        name, selector, _ = parse_registry_uri(src_model_uri)
        src, _ = self.store.resolve_download_uri(name, selector)
        try:
            self.create_registered_model(ctx, dst_name)
        except ResourceAlreadyExists:
            pass
        return self.create_model_version(
            ctx,
            dst_name,
            f"models:/{src.name}/{src.version}",
            run_id=src.run_id,
            tags=src.tags,
            description=src.description,
            model_id=src.model_id,
        )

    def resolve_model_uri(self, ctx: RequestContext, model_uri: str) -> str:
        """The artifact URI of the files ``models:/<name>/<version|stage|latest>[/path]`` or
        ``models:/<name>@<alias>`` names (against an MLflow server too: ``uris.resolve_version``)."""
        name, selector, path = parse_registry_uri(model_uri)
        _, location = self.resolve_version(ctx, name, selector)
        return location.rstrip("/") + ("/" + path if path else "")

    def resolve_version(self, ctx: RequestContext, name: str, selector: str) -> tuple[str, str]:
        """``(version, artifact URI of its files)`` for a version number, stage, ``latest`` or
        ``@alias`` of model ``name``: one store call (one request to a modelyard server)."""
        return resolve_version(self.store, name, selector)

    def get_model_version_download_uri(self, ctx: RequestContext, name: str, version: str | int) -> str:
        return self.store.get_model_version_download_uri(name, version)

    def transition_model_version_stage(
        self,
        ctx: RequestContext,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
        *,
        user_id: str | None = None,
    ) -> ModelVersion:
        return self.store.transition_model_version_stage(
            name, version, stage, archive_existing_versions, user_id=ctx.user(user_id)
        )

    def get_latest_versions(
        self, ctx: RequestContext, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty)."""
        return self.store.get_latest_versions(name, stages)

    def set_registered_model_alias(
        self,
        ctx: RequestContext,
        name: str,
        alias: str,
        version: str | int,
        *,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Point ``alias`` at ``version``; ``reason`` is kept with the move in the promotion history."""
        return self.store.set_registered_model_alias(name, alias, version, user_id=ctx.user(user_id), reason=reason)

    def delete_registered_model_alias(
        self, ctx: RequestContext, name: str, alias: str, *, user_id: str | None = None
    ) -> None:
        return self.store.delete_registered_model_alias(name, alias, user_id=ctx.user(user_id))

    def get_model_version_by_alias(self, ctx: RequestContext, name: str, alias: str) -> ModelVersion:
        """``latest`` (any case) is the newest version."""
        return self.store.get_model_version_by_alias(name, alias)

    def resolve_download_uri(self, ctx: RequestContext, name: str, selector: str) -> tuple[ModelVersion, str]:
        """``models:/<name>/<selector>`` in one call: a version number, a stage, ``latest`` or"""
        return self.store.resolve_download_uri(name, selector)

    def get_promotion_history(
        self,
        ctx: RequestContext,
        name: str,
        alias: str | None = None,
        stage: str | None = None,
        max_results: int = HISTORY_DEFAULT,
        page_token: str | None = None,
    ) -> PagedList[PromotionEvent]:
        """Alias moves and stage transitions of a model, newest first. ``alias`` / ``stage`` keep the"""
        return self.store.get_promotion_history(name, alias, stage, max_results, page_token)

    def get_model_version_lineage(self, ctx: RequestContext, name: str, version: str | int) -> dict:
        """``{"model_version", "logged_model", "run", "experiment"}``: where the version comes from"""
        return self.store.get_model_version_lineage(name, version)

    def get_logged_model_registrations(self, ctx: RequestContext, model_id: str) -> list[ModelVersion]:
        """The versions registered from a logged model (the reverse lineage link)."""
        return self.store.get_logged_model_registrations(model_id)

    def link_logged_model(self, ctx: RequestContext, model_id: str, name: str, version: str) -> None:
        """Record a registration on the logged model: ``{"name", "version"}`` appended (once) to its"""
        return self.store.link_logged_model(model_id, name, version)

    def create_webhook(
        self,
        ctx: RequestContext,
        name: str,
        url: str,
        events: Sequence[WebhookEvent | str | dict],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        return self.store.create_webhook(name, url, events, description, secret, status)

    def get_webhook(self, ctx: RequestContext, webhook_id: str) -> Webhook:
        return self.store.get_webhook(webhook_id)

    def list_webhooks(
        self, ctx: RequestContext, max_results: int = WEBHOOKS_DEFAULT, page_token: str | None = None
    ) -> PagedList[Webhook]:
        return self.store.list_webhooks(max_results, page_token)

    def update_webhook(
        self,
        ctx: RequestContext,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent | str | dict] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        return self.store.update_webhook(webhook_id, name, description, url, events, secret, status)

    def delete_webhook(self, ctx: RequestContext, webhook_id: str) -> None:
        return self.store.delete_webhook(webhook_id)

    def list_webhook_deliveries(
        self,
        ctx: RequestContext,
        webhook_id: str,
        max_results: int = WEBHOOKS_DEFAULT,
        page_token: str | None = None,
    ) -> PagedList[WebhookDelivery]:
        """The delivery log of one webhook, newest first."""
        return self.store.list_webhook_deliveries(webhook_id, max_results, page_token)

    def test_webhook(
        self, ctx: RequestContext, webhook_id: str, event: WebhookEvent | None, settings
    ) -> WebhookTestResult:
        """Send one example event to the webhook at once and log it with its deliveries (a REST store
        asks its server to)."""
        if hasattr(self.store, "test_webhook"):
            return self.store.test_webhook(webhook_id, event)
        return send_test(self.store, webhook_id, event, settings)

    # -- answers in MLflow's JSON, for the REST API ------------------------------------------
    def search_registered_models_json(
        self, ctx: RequestContext, filter_string, max_results, order_by, page_token
    ) -> tuple[list[dict], str | None]:
        """``search_registered_models`` as JSON dicts (the SQL store's fast path when it has one)."""
        def fetch(token):
            return _as_dicts(self.store, "search_registered_models", filter_string, max_results, order_by, token)

        return visibility.readable_pages(ctx, "registered_model", fetch, lambda d: d["name"], page_token)

    def search_model_versions_json(
        self, ctx: RequestContext, filter_string, max_results, order_by, page_token
    ) -> tuple[list[dict], str | None]:
        """``search_model_versions`` as JSON dicts (the SQL store's fast path when it has one)."""
        def fetch(token):
            return _as_dicts(self.store, "search_model_versions", filter_string, max_results, order_by, token)

        return visibility.readable_pages(ctx, "registered_model", fetch, lambda d: d["name"], page_token)


def _as_dicts(store, method: str, *args) -> tuple[list[dict], str | None]:
    fast = getattr(store, f"{method}_wire", None)
    if fast is not None:
        return fast(*args)
    page = getattr(store, method)(*args)
    return [x.to_dict() for x in page], page.token
