"""``FeatureTableService``: creating, writing, reading and dropping feature tables on one catalog
store. The client calls it in-process; the server calls it for clients that send or read table
data through it (Arrow IPC streams, ``server/routes/features.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from modelyard.auth.context import RequestContext
from modelyard.entities.feature_table import FeatureTable
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.features import delta

WRITE_MODES = ("merge", "overwrite")


def names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class FeatureTableService:
    """The feature-table operations over one catalog store, on behalf of one ``RequestContext`` (the
    server builds one per request, ``FeatureClient`` one with its client's local context)."""

    def __init__(self, store: Any, ctx: RequestContext | None = None) -> None:
        self.store = store
        self.ctx = ctx if ctx is not None else RequestContext()
        self.user = self.ctx.user()

    def create(
        self,
        name: str,
        primary_keys: str | Sequence[str],
        data: pa.Table | None,
        *,
        timestamp_keys: str | Sequence[str] | None = None,
        schema: pa.Schema | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> FeatureTable:
        from modelyard.store.features.base import validate_table_name

        validate_table_name(name)
        pks, tks = names(primary_keys), names(timestamp_keys)
        if not pks:
            raise InvalidParameterValue(f"Feature table {name!r} needs at least one primary key")
        if len(tks) > 1:
            raise InvalidParameterValue("A feature table has at most one timestamp key")
        if data is None and schema is None:
            raise InvalidParameterValue("create_table needs df (the first rows) or schema")
        data = data if data is not None else pa.schema(schema).empty_table()
        delta.check_keys(data, pks, tks)
        data = delta.normalize(data)
        try:
            self.store.get_feature_table(name)
        except ResourceDoesNotExist:
            pass
        else:
            raise ResourceAlreadyExists(f"Feature table {name!r} already exists")
        location = self.store.default_location(name)
        version = delta.create(location, delta.sorted_by(data, pks + tks) if tks else data)
        try:
            return self.store.create_feature_table(
                name, pks, tks, delta.columns_of(delta.stored_schema(location)), location, version,
                description=description, tags={k: str(v) for k, v in (tags or {}).items()}, creator=self.user,
                change={"operation": "create", "rows_written": data.num_rows, "rows_inserted": data.num_rows},
            )
        except BaseException:
            delta.remove(location)
            raise

    def write(self, name: str, data: pa.Table, mode: str = "merge") -> FeatureTable:
        if mode not in WRITE_MODES:
            raise InvalidParameterValue(f"mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
        table = self.store.get_feature_table(name)
        delta.check_keys(data, table.primary_keys, table.timestamp_keys)
        data = delta.conform(data, delta.stored_schema(table.location), keys=table.keys)
        change = {"operation": mode, "rows_written": data.num_rows}
        if table.timestamp_keys:  # time series: new files in key and time order, see delta.sorted_by
            data = delta.sorted_by(data, table.keys)
        if mode == "merge":
            version, counts = delta.merge(table.location, data, table.keys)
            change.update(counts)
        else:
            version = delta.overwrite(table.location, data)
            change["rows_inserted"] = data.num_rows
        columns = delta.columns_of(delta.stored_schema(table.location, version))
        # the catalog records the version and emits feature_table.updated in one transaction
        return self.store.update_feature_table(name, columns=columns, version=version, change=change)

    def dataset(self, name: str, as_of_version: int | None = None, as_of_timestamp: datetime | str | None = None):
        """The table at a version or a time (default: the catalog's current version), read lazily."""
        if as_of_version is not None and as_of_timestamp is not None:
            raise InvalidParameterValue("Give as_of_version or as_of_timestamp, not both")
        table = self.store.get_feature_table(name)
        at = as_of_version if as_of_version is not None else as_of_timestamp
        return delta.dataset(table.location, table.current_version if at is None else at)

    def batches(self, name: str, *, as_of_version=None, as_of_timestamp=None, columns=None,
                batch_rows: int = 65_536) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        ds = self.dataset(name, as_of_version, as_of_timestamp)
        cols = list(columns) if columns else None
        schema = pa.schema([ds.schema.field(c) for c in cols]) if cols else ds.schema
        return schema, iter(ds.to_batches(columns=cols, batch_size=batch_rows))

    def get(self, name: str) -> FeatureTable:
        return self.store.get_feature_table(name)

    def search(self, name_like: str | None = None, max_results: int | None = None) -> list[FeatureTable]:
        """Tables whose name matches the SQL LIKE pattern ``name_like`` (all without one)."""
        from modelyard.store.features.base import MAX_RESULTS_DEFAULT

        return list(self.store.search_feature_tables(name_like, MAX_RESULTS_DEFAULT if max_results is None else max_results))

    def register(
        self, name: str, primary_keys: Sequence[str], timestamp_keys: Sequence[str], columns: Any,
        location: str, version: int, *, description: str | None = None, tags: dict[str, str] | None = None,
        creator: str | None = None, change: dict | None = None,
    ) -> FeatureTable:
        """The catalog entry of a table whose Delta data a client already wrote at ``location``
        (``change``: what the write did, for the ``feature_table.updated`` event)."""
        return self.store.create_feature_table(
            name, primary_keys, timestamp_keys, columns, location, version,
            description=description, tags=tags or {}, creator=self.ctx.user(creator), change=change,
        )

    def default_location(self, name: str) -> str:
        """Where a new table's Delta data goes."""
        from modelyard.store.features.base import validate_table_name

        return self.store.default_location(validate_table_name(name))

    def update(self, name: str, *, columns: Any = None, version: int | None = None,
               description: str | None = None, change: dict | None = None) -> FeatureTable:
        """Record a new version / schema / description of a table's catalog entry (a new version
        emits ``feature_table.updated`` with ``change``)."""
        return self.store.update_feature_table(
            name, columns=columns, version=version, description=description, change=change
        )

    def unregister(self, name: str) -> None:
        """Delete a table's catalog entry only (a client removes the files; ``drop`` does both)."""
        self.store.delete_feature_table(name)

    def set_tag(self, name: str, key: str, value: str) -> None:
        self.store.set_feature_table_tag(name, key, str(value))

    def delete_tag(self, name: str, key: str) -> None:
        self.store.delete_feature_table_tag(name, key)

    def record_publish(self, name: str, online_store: str, version: int) -> None:
        """Record that ``version`` of the table was published to ``online_store``."""
        self.store.record_publish(name, online_store, version)

    def preview(self, name: str, as_of_version: int | None = None, rows: int = 20) -> pa.Table:
        """The first ``rows`` rows of the table (at a version), read lazily: never the whole table."""
        return self.dataset(name, as_of_version).head(rows)

    def history(self, name: str, limit: int | None = None) -> list[dict]:
        return delta.history(self.store.get_feature_table(name).location, limit)

    def drop(self, name: str) -> None:
        table = self.store.get_feature_table(name)
        self.store.delete_feature_table(name)
        delta.remove(table.location)
