"""``RestFeatureStore``: the feature catalog over a modelyard tracking server
(``/api/2.0/modelyard/feature-tables/...``), sharing the ``RestTrackingStore``'s HTTP machinery
(connection reuse, retries, auth, error translation)."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.entities.feature_table import FeatureColumn, FeatureTable
from modelyard.store.features import base

API = "/api/2.0/modelyard"


class RestFeatureStore(base.FeatureCatalogStore):
    def __init__(self, http) -> None:
        self._http = http
        self.uri = http.uri

    @classmethod
    def from_tracking_store(cls, tracking_store, settings=None) -> RestFeatureStore:
        return cls(tracking_store)

    def __repr__(self) -> str:
        return f"RestFeatureStore({self.uri!r})"

    def _call(self, method: str, endpoint: str, body: dict | None = None, params: dict | None = None) -> dict:
        if body is not None:
            body = {k: v for k, v in body.items() if v is not None}
        return self._http._call(method, f"feature-tables/{endpoint}", body, params, api=API)

    def default_location(self, name: str) -> str:
        return self._call("GET", "default-location", params={"name": name})["location"]

    def create_feature_table(self, name, primary_keys, timestamp_keys, columns, location, version,
                             description=None, tags=None, creator=None, change=None) -> FeatureTable:
        body = {
            "name": name, "primary_keys": list(primary_keys), "timestamp_keys": list(timestamp_keys),
            "columns": [c.to_dict() for c in columns], "location": location, "version": version,
            "description": description, "creator": creator,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            "change": change,
        }
        return FeatureTable.from_dict(self._call("POST", "create", body)["feature_table"])

    def get_feature_table(self, name: str) -> FeatureTable:
        return FeatureTable.from_dict(self._call("GET", "get", params={"name": name})["feature_table"])

    def search_feature_tables(self, name_like=None, max_results: int = base.MAX_RESULTS_DEFAULT) -> list[FeatureTable]:
        params = {"max_results": max_results} | ({"name_like": name_like} if name_like else {})
        return [FeatureTable.from_dict(t) for t in self._call("GET", "search", params=params).get("feature_tables", [])]

    def update_feature_table(self, name: str, *, columns: Sequence[FeatureColumn] | None = None,
                             version: int | None = None, description: str | None = None,
                             change: base.Change | None = None) -> FeatureTable:
        body = {"name": name, "version": version, "description": description, "change": change,
                "columns": None if columns is None else [c.to_dict() for c in columns]}
        return FeatureTable.from_dict(self._call("POST", "update", body)["feature_table"])

    def set_feature_table_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "set-tag", {"name": name, "key": key, "value": value})

    def delete_feature_table_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "delete-tag", {"name": name, "key": key})

    def delete_feature_table(self, name: str) -> None:
        self._call("DELETE", "delete", {"name": name})

    def record_publish(self, name: str, online_store: str, version: int) -> None:
        self._call("POST", "record-publish", {"name": name, "online_store": online_store, "version": version})
