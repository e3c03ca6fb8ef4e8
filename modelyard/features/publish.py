"""Publishing a feature table to an online store (incremental), and looking features up there."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from modelyard.entities.feature_table import FeatureTable
from modelyard.exceptions import InvalidParameterValue
from modelyard.features import delta, join, online
from modelyard.features.codec import codecs_of

logger = logging.getLogger(__name__)


def _latest_sql(source: str, table: FeatureTable) -> str:
    cols = ", ".join(join._q(c.name) for c in table.columns)
    if not table.timestamp_keys:
        return f"SELECT {cols} FROM {source}"
    partition = ", ".join(join._q(k) for k in table.primary_keys)
    order = join._q(table.timestamp_keys[0])
    return f"SELECT {cols} FROM {source} QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order} DESC) = 1"


def changes(table: FeatureTable, since: int | None) -> tuple[pa.Table, pa.Table]:
    """(rows to write, keys to delete): the latest row per key at the current version that differ
    from those at version ``since`` (every row when None), and keys present then but not now."""
    con = join.connect()
    try:
        con.register("cur_src", delta.dataset(table.location, table.current_version))
        current = _latest_sql("cur_src", table)
        pk = ", ".join(join._q(k) for k in table.primary_keys)
        if since is None:
            return con.sql(current).to_arrow_table(), pa.table({k: [] for k in table.primary_keys})
        previous_schema = delta.stored_schema(table.location, since)
        if previous_schema.names != [c.name for c in table.columns]:  # the columns changed: publish all
            return con.sql(current).to_arrow_table(), pa.table({k: [] for k in table.primary_keys})
        con.register("prev_src", delta.dataset(table.location, since))
        previous = _latest_sql("prev_src", table)
        written = con.sql(f"({current}) EXCEPT ({previous})").to_arrow_table()
        removed = con.sql(f"(SELECT {pk} FROM ({previous})) EXCEPT (SELECT {pk} FROM ({current}))").to_arrow_table()
        return written, removed
    finally:
        con.close()


def publish(fc: Any, name: str, online_store: str, *, full: bool = False) -> dict:
    table = fc.get_table(name)
    store = online.open_store(online_store)
    try:
        last = next((p for p in table.online_stores if p.online_store == store.uri), None)
        since = None if full or last is None else last.version
        if since == table.current_version:
            written, removed = pa.table({}), pa.table({})
        else:
            written, removed = changes(table, since)
        if written.num_rows:
            keys = online.keys_of(written, table.primary_keys)
            features = written.select(list(table.feature_names))
            store.write(name, keys, features.to_pylist())
        if removed.num_rows:
            store.delete(name, online.keys_of(removed, table.primary_keys))
        fc.service.record_publish(name, store.uri, table.current_version)
    finally:
        store.close()
    logger.info("published %s v%d to %s: %d written, %d deleted", name, table.current_version, store.uri,
                written.num_rows, removed.num_rows)
    return {"feature_table": name, "online_store": store.uri, "version": table.current_version,
            "since_version": since, "written": written.num_rows, "deleted": removed.num_rows}


def key_strings(table: FeatureTable, rows: Sequence[Sequence[Any]]) -> list[str]:
    """Request key values cast to the table's key types, then encoded as the store encodes them."""
    types = {c.name: c.dtype for c in table.columns}
    columns = []
    for i, k in enumerate(table.primary_keys):
        values = [r[i] for r in rows]
        if _already(types[k], values):  # what the cast would give back: skip Arrow (serving's hot path)
            if len(table.primary_keys) == 1 and types[k] == "int64":
                return [f"[{v}]" for v in values]  # what entity_key gives for one int, without json
            columns.append(values)
            continue
        target = _arrow_type(types[k])
        try:
            try:
                columns.append(pa.array(values).cast(target).to_pylist())
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # mixed types, e.g. "2" and 4
                columns.append([pa.array([v]).cast(target)[0].as_py() for v in values])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            raise InvalidParameterValue(f"Key {k!r} of feature table {table.name!r} must be {types[k]}") from None
    return [online.entity_key(v) for v in zip(*columns, strict=True)]


_INT64 = (-(2**63), 2**63 - 1)


def _already(dtype: str, values: list[Any]) -> bool:
    """Whether ``values`` are already the Python values of the key type (plain ``int`` in int64's
    range for int64, ``str`` for string): casting them through Arrow would change nothing."""
    if dtype == "int64":
        return all(type(v) is int and _INT64[0] <= v <= _INT64[1] for v in values)
    if dtype == "string":
        return all(type(v) is str for v in values)
    return False


def _arrow_type(text: str) -> pa.DataType:
    simple = {"int64": pa.int64(), "int32": pa.int32(), "int16": pa.int16(), "int8": pa.int8(),
              "string": pa.string(), "double": pa.float64(), "float": pa.float32(), "bool": pa.bool_()}
    return simple.get(text, pa.string())


def lookup(fc: Any, name: str, keys: Sequence[Any], *, online_store: str | None = None,
           features: Sequence[str] | None = None) -> list[dict[str, Any] | None]:
    """The latest features of each key (a value, or a tuple for composite keys), None where absent.
    The catalog entry is read on each call; the store's connection is the client's (kept open)."""
    table = fc.get_table(name)
    uri = online_store or newest_store(table)
    return OnlineTable(table, fc.online_store(uri), features).get_many(keys)


class OnlineTable:
    """One feature table's online rows, resolved once (``FeatureClient.online_table``): the store
    open, the features' decoders built, a key's text made without Arrow for a plain ``int`` or
    ``str`` key. ``get`` reads one key (one HMGET on Redis), ``get_many`` and ``get_columns`` many
    (one pipelined round trip), the values being those of the columns' types (``codec``)."""

    def __init__(self, table: FeatureTable, store: online.OnlineStore, features: Sequence[str] | None = None) -> None:
        names = list(features or table.feature_names)
        unknown = [f for f in names if table.column(f) is None or f in table.keys]
        if unknown:
            raise InvalidParameterValue(f"Feature table {table.name!r} has no feature {unknown[0]!r}")
        self.table, self.online_store, self.features = table, store, tuple(names)
        self._codecs = codecs_of(table, names)
        self._single = len(table.primary_keys) == 1
        key_type = table.column(table.primary_keys[0]).dtype if self._single else None
        self._int_key = key_type == "int64"
        self._str_key = key_type == "string"
        self._read_one = store.key_reader(table.name, self.features, self._codecs)

    def key_text(self, key: Any) -> str:
        """``key`` (a value, or a tuple/list for a composite key) as the store's key text."""
        if self._single:
            kind = type(key)
            if kind is int and self._int_key and _INT64[0] <= key <= _INT64[1]:
                return f"[{key}]"
            if kind is str and self._str_key:
                return online.entity_key((key,))
        row = key if isinstance(key, tuple | list) else (key,)
        return key_strings(self.table, [row])[0]

    def _texts(self, keys: Sequence[Any]) -> list[str]:
        rows = [k if isinstance(k, tuple | list) else (k,) for k in keys]
        return key_strings(self.table, rows) if rows else []

    def get(self, key: Any) -> dict[str, Any] | None:
        """The features of one key, None when it has no row."""
        values = self._read_one(self.key_text(key))
        return None if values is None else dict(zip(self.features, values, strict=True))

    def get_many(self, keys: Sequence[Any]) -> list[dict[str, Any] | None]:
        """The features of each key, None for a key without a row."""
        found = self.online_store.fetch([(self.table.name, self._texts(keys), self.features, self._codecs)])[0]
        names = self.features
        return [None if values is None else dict(zip(names, values, strict=True)) for values in found]

    def get_columns(self, keys: Sequence[Any]) -> dict[str, list[Any]]:
        """Column by column: each feature's values in the order of ``keys`` (None where a key has no
        row), the shape of Feast's ``get_online_features(...).to_dict()``."""
        found = self.online_store.fetch([(self.table.name, self._texts(keys), self.features, self._codecs)])[0]
        if not found:
            return {name: [] for name in self.features}
        blank = [None] * len(self.features)
        columns = zip(*(blank if values is None else values for values in found), strict=True)
        return {name: list(values) for name, values in zip(self.features, columns, strict=True)}


def newest_store(table: FeatureTable) -> str:
    if not table.online_stores:
        raise InvalidParameterValue(f"Feature table {table.name!r} was never published to an online store")
    return max(table.online_stores, key=lambda p: p.published_time).online_store
