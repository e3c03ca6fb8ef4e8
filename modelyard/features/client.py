"""``FeatureClient``: feature tables (Delta data + catalog entry), training sets, models that carry
their feature spec, batch scoring and online publishing.

It finds its catalog the way ``TrackingClient`` finds its store (the same tracking-URI rules):
the tracking database itself, or a tracking server over REST.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from modelyard.entities.feature_table import FeatureTable
from modelyard.exceptions import InvalidParameterValue
from modelyard.features import delta
from modelyard.features.lookup import FeatureLookup
from modelyard.features.service import names as _names
from modelyard.features.training_set import TrainingSet, resolve
from modelyard.settings import Settings

logger = logging.getLogger(__name__)


class FeatureClient:
    def __init__(self, tracking_uri: str | None = None, settings: Settings | None = None, *,
                 data_via_server: bool = False) -> None:
        """``data_via_server``: with an ``http://`` tracking URI, send and read table data through the
        server (Arrow IPC streams) instead of opening the table files, for a client that cannot reach
        the server's storage. Training sets and scoring still read the files."""
        from modelyard.tracking.client import TrackingClient

        self._client = TrackingClient(tracking_uri, settings)
        self._data_via_server = data_via_server
        self.settings = self._client.settings
        self.tracking_uri = self._client.tracking_uri
        self._service = None
        self._online: dict[str, Any] = {}  # online store URI -> the open store

    @property
    def tracking_client(self):
        return self._client

    @property
    def store(self):
        """The feature catalog under the service (kept for code written against stores)."""
        from modelyard.store.features import feature_store_for

        return feature_store_for(self._client.store, self.settings)

    @property
    def service(self):
        """The catalog operations every method calls, with the tracking client's local context."""
        if self._service is None:
            from modelyard.features.service import FeatureTableService

            self._service = FeatureTableService(self.store, self._client.context)
        return self._service

    @property
    def tables(self):
        """Table operations: in-process on the table files, or through the server (``data_via_server``)."""
        if self._data_via_server:
            from modelyard.features.remote import RemoteTables

            return RemoteTables(self._client.store)
        return self.service

    # -- tables -------------------------------------------------------------------------------
    def create_table(
        self,
        name: str,
        primary_keys: str | Sequence[str],
        df: Any = None,
        *,
        timestamp_keys: str | Sequence[str] | None = None,
        schema: Any = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> FeatureTable:
        """Create a feature table from ``df`` (its first version) or an empty one of Arrow ``schema``."""
        import pyarrow as pa

        data = delta.to_arrow(df) if df is not None else None
        return self.tables.create(name, primary_keys, data, timestamp_keys=timestamp_keys,
                                  schema=pa.schema(schema) if schema is not None else None,
                                  description=description, tags=tags)

    def write_table(self, name: str, df: Any, mode: str = "merge") -> FeatureTable:
        """Write rows as a new version: ``merge`` upserts by the keys, ``overwrite`` replaces every row."""
        return self.tables.write(name, delta.to_arrow(df), mode)

    def read_table(
        self, name: str, *, as_of_version: int | None = None, as_of_timestamp: datetime | str | None = None,
        columns: Sequence[str] | None = None,
    ):
        """The table's rows as pandas: the current version, or as it was at a version or a time."""
        return self.read_arrow(name, as_of_version=as_of_version, as_of_timestamp=as_of_timestamp,
                               columns=columns).to_pandas()

    def read_arrow(self, name: str, *, as_of_version=None, as_of_timestamp=None, columns=None):
        import pyarrow as pa

        schema, batches = self.tables.batches(name, as_of_version=as_of_version, as_of_timestamp=as_of_timestamp,
                                              columns=columns)
        return pa.Table.from_batches(list(batches), schema=schema)

    def get_table(self, name: str) -> FeatureTable:
        return self.service.get(name)

    def list_tables(self, name_like: str | None = None, max_results: int = 100) -> list[FeatureTable]:
        return self.service.search(name_like, max_results)

    def history(self, name: str, limit: int | None = None) -> list[dict]:
        """The table's Delta commits, newest first (version, timestamp, operation, metrics)."""
        return self.tables.history(name, limit)

    def set_table_tag(self, name: str, key: str, value: Any) -> None:
        self.service.set_tag(name, key, str(value))

    def delete_table_tag(self, name: str, key: str) -> None:
        self.service.delete_tag(name, key)

    def drop_table(self, name: str) -> None:
        """Delete the catalog entry, then the table's files."""
        self.tables.drop(name)

    # -- training sets, models, scoring -------------------------------------------------------
    def create_training_set(
        self,
        df: Any,
        feature_lookups: Sequence[FeatureLookup],
        label: str | None = None,
        exclude_columns: Sequence[str] | None = None,
    ) -> TrainingSet:
        """Input rows plus the features of ``feature_lookups``, joined as of each row's timestamp."""
        if not feature_lookups:
            raise InvalidParameterValue("create_training_set needs at least one FeatureLookup")
        resolved = tuple(resolve(lk, self.service.get(lk.table_name)) for lk in feature_lookups)
        return TrainingSet(df, resolved, label, tuple(_names(exclude_columns)))

    def log_model(self, model: Any, name: str = "model", *, flavor: Any, training_set: TrainingSet,
                  registered_model_name: str | None = None, **kwargs: Any):
        """Log ``model`` with ``flavor`` (e.g. ``modelyard.sklearn``) plus its ``feature_spec.yaml``, and
        record the feature tables (at the versions read) as the run's dataset inputs."""
        from modelyard.features.model import log_model

        return log_model(self, model, name, flavor, training_set, registered_model_name, **kwargs)

    def score_batch(self, model_uri: str, df: Any, **kwargs: Any):
        """``df`` + looked-up features + ``prediction`` (pandas/Arrow in, pandas out; Spark in, Spark out)."""
        from modelyard.features.scoring import score_batch

        return score_batch(model_uri, df, tracking_uri=self.tracking_uri, **kwargs)

    # -- online -------------------------------------------------------------------------------
    def publish_table(self, name: str, online_store: str, *, full: bool = False) -> dict:
        """Write the latest row per key to ``online_store`` (``redis://...`` or a database URI): only the
        keys changed since the last publish there, unless ``full``."""
        from modelyard.features.publish import publish

        return publish(self, name, online_store, full=full)

    def lookup_features(self, name: str, keys: Sequence[Any], *, online_store: str | None = None,
                        features: Sequence[str] | None = None) -> list[dict[str, Any] | None]:
        """The latest features of each key from the online store (the newest one published to by
        default); None for a key that has no row."""
        from modelyard.features.publish import lookup

        return lookup(self, name, keys, online_store=online_store, features=features)

    def online_table(self, name: str, *, online_store: str | None = None, features: Sequence[str] | None = None):
        """An ``OnlineTable``: the table resolved once (the newest online store it was published to by
        default), for repeated lookups: ``.get(key)`` a dict (None when the key has no row),
        ``.get_many(keys)`` a list of them, ``.get_columns(keys)`` one list per feature. It sees a later
        publish's values, not a later change of the table's columns or store (make a new one)."""
        from modelyard.features.publish import OnlineTable, newest_store

        table = self.get_table(name)
        return OnlineTable(table, self.online_store(online_store or newest_store(table)), features)

    def online_store(self, uri: str):
        """The online store at ``uri``, opened once per client (its connections pooled)."""
        store = self._online.get(uri)
        if store is None:
            from modelyard.features.online import open_store

            store = self._online.setdefault(uri, open_store(uri))
        return store

    def close(self) -> None:
        """Close the online stores this client opened."""
        stores, self._online = list(self._online.values()), {}
        for store in stores:
            store.close()
