"""The registry-store protocol: registered models, versions, aliases, stages, history, webhooks.

Semantics are MLflow's model registry (``mlflow.md`` §8) unless a docstring says otherwise:

- version numbers are ``max + 1`` per model and never reused (deleted versions are tombstones);
- stages are canonicalized case-insensitively (``ModelVersionStage.parse``);
- a taken name raises ResourceAlreadyExists (HTTP 400, as MLflow);
- searches use the shared filter grammar (``modelyard.search``, entities ``registered_models`` and
  ``model_versions``) and opaque page tokens.

Mutating methods take ``user_id``: who made the change, recorded on new models and versions and in
the promotion history (the server passes the request's user, clients their configured user).
Every alias move and stage transition is recorded (``get_promotion_history``); mutations that match
a webhook's events queue a delivery in the same transaction (``list_webhook_deliveries``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from modelyard.entities import (
    ModelVersion,
    PagedList,
    PromotionEvent,
    RegisteredModel,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)

SEARCH_REGISTERED_MODELS_DEFAULT = 100
SEARCH_REGISTERED_MODELS_MAX = 1000
SEARCH_MODEL_VERSIONS_DEFAULT = 10_000
SEARCH_MODEL_VERSIONS_MAX = 200_000
HISTORY_DEFAULT = 100
HISTORY_MAX = 10_000
WEBHOOKS_DEFAULT = 100
WEBHOOKS_MAX = 1000


class RegistryStore(ABC):
    # -- registered models -----------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> RegisteredModel: ...

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    @abstractmethod
    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """``None`` leaves a field unchanged; ``""`` clears it."""

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Hard delete: versions, tags and aliases go too; the promotion history stays."""

    @abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Default order ``name ASC``. Prompts (tag ``mlflow.prompt.is_prompt = 'true'``) are left
        out unless the filter names that tag, as MLflow's server does."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    # -- model versions --------------------------------------------------------------------------
    @abstractmethod
    def create_model_version(
        self,
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
        """Register ``source``, which must be an artifact location this tracking store owns:
        ``runs:/<run_id>/<path>``, ``models:/m-<id>`` (a logged model), ``models:/<name>/<version>``
        or ``@alias`` (another version), or a URI inside the artifact location of ``run_id`` /
        ``model_id``. Anything else (local paths, ``file:``, other hosts, traversal in any encoding)
        raises InvalidParameterValue. Lineage (run_id, model_id) is filled in from the source."""

    @abstractmethod
    def get_model_version(self, name: str, version: str | int) -> ModelVersion: ...

    @abstractmethod
    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion: ...

    @abstractmethod
    def delete_model_version(self, name: str, version: str | int, *, user_id: str | None = None) -> None:
        """Tombstone the version (its number is never reused); aliases pointing at it are removed
        (and recorded in the promotion history)."""

    @abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Default order ``last_updated_timestamp DESC, name ASC, version_number DESC``."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None: ...

    @abstractmethod
    def get_model_version_download_uri(self, name: str, version: str | int) -> str: ...

    @abstractmethod
    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
        *,
        user_id: str | None = None,
    ) -> ModelVersion: ...

    @abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty)."""

    # -- aliases ----------------------------------------------------------------------------------
    @abstractmethod
    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, user_id: str | None = None, reason: str | None = None
    ) -> None:
        """``reason`` (optional) is recorded with the move in the promotion history."""

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str, *, user_id: str | None = None) -> None: ...

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """``latest`` (any case) is the newest version."""

    @abstractmethod
    def resolve_download_uri(self, name: str, selector: str) -> tuple[ModelVersion, str]:
        """``models:/<name>/<selector>`` in one call: a version number, a stage, ``latest`` or
        ``@alias``; returns the version and the URI of its files."""

    # -- history and lineage ------------------------------------------------------------------------
    @abstractmethod
    def get_promotion_history(
        self,
        name: str,
        alias: str | None = None,
        stage: str | None = None,
        max_results: int = HISTORY_DEFAULT,
        page_token: str | None = None,
    ) -> PagedList[PromotionEvent]:
        """Alias moves and stage transitions of a model, newest first. ``alias`` / ``stage`` keep the
        events of that alias / stage only. A deleted model's history is still found by its name."""

    @abstractmethod
    def get_model_version_lineage(self, name: str, version: str | int) -> dict:
        """``{"model_version", "logged_model", "run", "experiment"}``: where the version comes from
        (entries are ``None`` when unknown or deleted)."""

    @abstractmethod
    def get_logged_model_registrations(self, model_id: str) -> list[ModelVersion]:
        """The versions registered from a logged model (the reverse lineage link)."""

    @abstractmethod
    def link_logged_model(self, model_id: str, name: str, version: str) -> None:
        """Record a registration on the logged model: ``{"name", "version"}`` appended (once) to its
        ``mlflow.modelVersions`` tag, the JSON list MLflow's client maintains."""

    # -- webhooks -----------------------------------------------------------------------------------
    @abstractmethod
    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent | str | dict],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook: ...

    @abstractmethod
    def get_webhook(self, webhook_id: str) -> Webhook: ...

    @abstractmethod
    def list_webhooks(self, max_results: int = WEBHOOKS_DEFAULT, page_token: str | None = None) -> PagedList[Webhook]: ...

    @abstractmethod
    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent | str | dict] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook: ...

    @abstractmethod
    def delete_webhook(self, webhook_id: str) -> None: ...

    @abstractmethod
    def list_webhook_deliveries(
        self, webhook_id: str, max_results: int = WEBHOOKS_DEFAULT, page_token: str | None = None
    ) -> PagedList[WebhookDelivery]:
        """The delivery log of one webhook, newest first."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections (a no-op when the tracking store owns them)."""
