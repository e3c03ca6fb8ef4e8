"""``RestRegistryStore``: the registry-store protocol over a tracking server's MLflow REST API.

It shares the HTTP machinery (connection reuse, retries with backoff, auth, error translation) of
the ``RestTrackingStore`` it is built from. MLflow's registry RPCs are used as MLflow's client
uses them; modelyard's additions (promotion history, lineage, delivery log, one-call resolution of
``models:/`` URIs) are extra endpoints that an MLflow server answers with ENDPOINT_NOT_FOUND.
``user_id`` travels in the request body, where the server records it unless the request carries
an authenticated user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

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
from modelyard.store.registry import base
from modelyard.store.tracking.base import MODEL_VERSIONS_TAG
from modelyard.store.tracking.rest import RestTrackingStore


def _kv(items: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": "" if val is None else str(val)} for k, val in (items or {}).items()]


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in body.items() if val is not None}


def _events(items: Sequence[WebhookEvent | str | dict] | None) -> list[dict] | None:
    return None if items is None else [WebhookEvent.parse(e).to_dict() for e in items]


class RestRegistryStore(base.RegistryStore):
    def __init__(self, http: RestTrackingStore) -> None:
        self._http = http
        self.uri = http.uri

    @classmethod
    def from_tracking_store(cls, tracking_store: RestTrackingStore, settings=None) -> RestRegistryStore:
        return cls(tracking_store)

    def __repr__(self) -> str:
        return f"RestRegistryStore({self.uri!r})"

    def _call(self, method: str, endpoint: str, body: dict | None = None, params: dict | None = None) -> dict:
        return self._http._call(method, endpoint, _clean(body) if body is not None else None, params)

    def _get(self, endpoint: str, **params: Any) -> dict:
        return self._call("GET", endpoint, params=_clean(params))

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(self, name, tags=None, description=None, deployment_job_id=None, *, user_id=None):
        body = {"name": name, "tags": _kv(tags), "description": description, "deployment_job_id": deployment_job_id}
        data = self._call("POST", "registered-models/create", {**body, "user_id": user_id})
        return RegisteredModel.from_dict(data["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._get("registered-models/get", name=name)["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        data = self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return RegisteredModel.from_dict(data["registered_model"])

    def update_registered_model(self, name, description=None, deployment_job_id=None) -> RegisteredModel:
        body = {"name": name, "description": description, "deployment_job_id": deployment_job_id}
        return RegisteredModel.from_dict(self._call("PATCH", "registered-models/update", body)["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", {"name": name})

    def search_registered_models(
        self, filter_string=None, max_results=base.SEARCH_REGISTERED_MODELS_DEFAULT, order_by=None, page_token=None
    ) -> PagedList[RegisteredModel]:
        data = self._get(
            "registered-models/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        items = [RegisteredModel.from_dict(d) for d in data.get("registered_models", [])]
        return PagedList(items, data.get("next_page_token") or None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": str(value)})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    # -- model versions ---------------------------------------------------------------------------
    def create_model_version(
        self, name, source, run_id=None, tags=None, run_link=None, description=None, model_id=None, *, user_id=None
    ) -> ModelVersion:
        body = {
            "name": name,
            "source": source,
            "run_id": run_id,
            "tags": _kv(tags),
            "run_link": run_link,
            "description": description,
            "model_id": model_id,
            "user_id": user_id,
        }
        return ModelVersion.from_dict(self._call("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version) -> ModelVersion:
        data = self._get("model-versions/get", name=name, version=str(version))
        return ModelVersion.from_dict(data["model_version"])

    def update_model_version(self, name: str, version, description) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        return ModelVersion.from_dict(self._call("PATCH", "model-versions/update", body)["model_version"])

    def delete_model_version(self, name: str, version, *, user_id=None) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version), "user_id": user_id})

    def search_model_versions(
        self, filter_string=None, max_results=base.SEARCH_MODEL_VERSIONS_DEFAULT, order_by=None, page_token=None
    ) -> PagedList[ModelVersion]:
        data = self._get(
            "model-versions/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        items = [ModelVersion.from_dict(d) for d in data.get("model_versions", [])]
        return PagedList(items, data.get("next_page_token") or None)

    def set_model_version_tag(self, name: str, version, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": str(value)}
        self._call("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version, key: str) -> None:
        self._call("DELETE", "model-versions/delete-tag", {"name": name, "version": str(version), "key": key})

    def get_model_version_download_uri(self, name: str, version) -> str:
        return self._get("model-versions/get-download-uri", name=name, version=str(version))["artifact_uri"]

    def transition_model_version_stage(
        self, name, version, stage, archive_existing_versions=False, *, user_id=None
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
            "user_id": user_id,
        }
        return ModelVersion.from_dict(self._call("POST", "model-versions/transition-stage", body)["model_version"])

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        data = self._call("POST", "registered-models/get-latest-versions", {"name": name, "stages": list(stages or [])})
        return [ModelVersion.from_dict(d) for d in data.get("model_versions", [])]

    # -- aliases -----------------------------------------------------------------------------------
    def set_registered_model_alias(self, name, alias, version, *, user_id=None, reason=None) -> None:
        body = {"name": name, "alias": alias, "version": str(version), "user_id": user_id}
        if reason is not None:
            body["reason"] = reason
        self._call("POST", "registered-models/alias", body)

    def delete_registered_model_alias(self, name, alias, *, user_id=None) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias, "user_id": user_id})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return ModelVersion.from_dict(self._get("registered-models/alias", name=name, alias=alias)["model_version"])

    def resolve_download_uri(self, name: str, selector: str) -> tuple[ModelVersion, str]:
        """One request for ``models:/<name>/<selector>`` (modelyard servers)."""
        data = self._get("model-versions/resolve", name=name, selector=selector)
        return ModelVersion.from_dict(data["model_version"]), data["artifact_uri"]

    # -- history and lineage ------------------------------------------------------------------------
    def get_promotion_history(
        self, name, alias=None, stage=None, max_results=base.HISTORY_DEFAULT, page_token=None
    ) -> PagedList[PromotionEvent]:
        data = self._get(
            "registered-models/history",
            name=name,
            alias=alias,
            stage=stage,
            max_results=max_results,
            page_token=page_token or None,
        )
        return PagedList([PromotionEvent.from_dict(e) for e in data.get("events", [])], data.get("next_page_token") or None)

    def get_model_version_lineage(self, name: str, version) -> dict:
        data = self._get("model-versions/lineage", name=name, version=str(version))
        return {
            "model_version": ModelVersion.from_dict(data["model_version"]),
            "logged_model": data.get("logged_model"),
            "run": data.get("run"),
            "experiment": data.get("experiment"),
        }

    def get_logged_model_registrations(self, model_id: str) -> list[ModelVersion]:
        data = self._get(f"logged-models/{quote(model_id, safe='')}/registrations")
        return [ModelVersion.from_dict(d) for d in data.get("model_versions", [])]

    def link_logged_model(self, model_id: str, name: str, version: str) -> None:
        """Add ``{name, version}`` to the logged model's ``mlflow.modelVersions`` tag (as MLflow's client)."""
        path = f"logged-models/{quote(model_id, safe='')}"
        tags = {t["key"]: t.get("value", "") for t in self._get(path)["model"]["info"].get("tags", [])}
        links = json.loads(tags.get(MODEL_VERSIONS_TAG) or "[]")
        entry = {"name": name, "version": str(version)}
        if entry not in links:
            value = json.dumps([*links, entry])
            self._call("PATCH", f"{path}/tags", {"tags": [{"key": MODEL_VERSIONS_TAG, "value": value}]})

    # -- webhooks ----------------------------------------------------------------------------------
    def create_webhook(self, name, url, events, description=None, secret=None, status=None) -> Webhook:
        body = {
            "name": name,
            "url": url,
            "events": _events(events),
            "description": description,
            "secret": secret,
            "status": status,
        }
        return Webhook.from_dict(self._call("POST", "webhooks", body)["webhook"])

    def get_webhook(self, webhook_id: str) -> Webhook:
        return Webhook.from_dict(self._get(f"webhooks/{quote(webhook_id, safe='')}")["webhook"])

    def list_webhooks(self, max_results=base.WEBHOOKS_DEFAULT, page_token=None) -> PagedList[Webhook]:
        data = self._get("webhooks", max_results=max_results, page_token=page_token or None)
        return PagedList([Webhook.from_dict(w) for w in data.get("webhooks", [])], data.get("next_page_token") or None)

    def update_webhook(
        self, webhook_id, name=None, description=None, url=None, events=None, secret=None, status=None
    ) -> Webhook:
        body = {
            "name": name,
            "description": description,
            "url": url,
            "events": _events(events),
            "secret": secret,
            "status": status,
        }
        return Webhook.from_dict(self._call("PATCH", f"webhooks/{quote(webhook_id, safe='')}", body)["webhook"])

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"webhooks/{quote(webhook_id, safe='')}")

    def list_webhook_deliveries(self, webhook_id, max_results=base.WEBHOOKS_DEFAULT, page_token=None):
        data = self._get(
            f"webhooks/{quote(webhook_id, safe='')}/deliveries", max_results=max_results, page_token=page_token or None
        )
        items = [WebhookDelivery.from_dict(d) for d in data.get("deliveries", [])]
        return PagedList(items, data.get("next_page_token") or None)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | str | dict | None = None) -> WebhookTestResult:
        body = {"event": WebhookEvent.parse(event).to_dict() if event is not None else None}
        data = self._call("POST", f"webhooks/{quote(webhook_id, safe='')}/test", body)
        return WebhookTestResult.from_dict(data.get("result", {}))
