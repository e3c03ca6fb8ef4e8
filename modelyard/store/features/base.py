"""The feature-catalog store protocol: SQL (``sql``, in the tracking database) and REST (``rest``).

The catalog holds what a feature table is (keys, columns, location, current Delta version, tags,
online publishes); the rows themselves are in the Delta table at ``location``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from modelyard.entities.feature_table import FeatureColumn, FeatureTable

MAX_RESULTS_DEFAULT = 100
MAX_RESULTS_LIMIT = 1000
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}")

# A new version of a feature table is a platform event (``feature_table.updated``, data
# ``{"table", "version", "operation", "rows_written", "rows_inserted", "rows_updated"}``); a
# ``Change`` is what the writer knows of it: the operation and its row counts (None: unknown).
TABLE_UPDATED = "feature_table.updated"
OPERATIONS = ("create", "merge", "overwrite", "write")
ROW_COUNTS = ("rows_written", "rows_inserted", "rows_updated")
Change = dict[str, Any]


def change_of(change: Change | None) -> Change:
    """``change`` checked and complete: a known operation (default ``write``) and integer counts."""
    from modelyard.exceptions import InvalidParameterValue

    change = dict(change or {})
    unknown = set(change) - {"operation", *ROW_COUNTS}
    if unknown:
        raise InvalidParameterValue(f"Unknown field(s) of a feature table change: {', '.join(sorted(unknown))}")
    operation = change.get("operation") or "write"
    if operation not in OPERATIONS:
        raise InvalidParameterValue(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    out: Change = {"operation": operation}
    for key in ROW_COUNTS:
        value = change.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidParameterValue(f"{key} must be a non-negative integer, got {value!r}")
        out[key] = value
    return out


def has_rows(change: Change | None) -> bool:
    """Whether a created table got data (unknown counts count as data)."""
    return (change or {}).get("rows_written") != 0


class FeatureCatalogStore(Protocol):
    def default_location(self, name: str) -> str:
        """Where a new table's Delta data goes: ``<artifact root>/feature-tables/<name>``."""
        ...

    def create_feature_table(
        self,
        name: str,
        primary_keys: Sequence[str],
        timestamp_keys: Sequence[str],
        columns: Sequence[FeatureColumn],
        location: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        creator: str | None = None,
        change: Change | None = None,
    ) -> FeatureTable: ...

    def get_feature_table(self, name: str) -> FeatureTable: ...

    def search_feature_tables(
        self, name_like: str | None = None, max_results: int = MAX_RESULTS_DEFAULT
    ) -> list[FeatureTable]: ...

    def update_feature_table(
        self,
        name: str,
        *,
        columns: Sequence[FeatureColumn] | None = None,
        version: int | None = None,
        description: str | None = None,
        change: Change | None = None,
    ) -> FeatureTable: ...

    def set_feature_table_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_feature_table_tag(self, name: str, key: str) -> None: ...

    def delete_feature_table(self, name: str) -> None: ...

    def record_publish(self, name: str, online_store: str, version: int) -> None: ...


def validate_table_name(name: object) -> str:
    """Letters, digits, ``_``, ``-`` and ``.`` (as in ``catalog.schema.table``); it names a folder too."""
    from modelyard.exceptions import InvalidParameterValue

    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or ".." in name
        or name.startswith(".")
        or name.endswith(".")
    ):
        raise InvalidParameterValue(
            f"Invalid feature table name {name!r}: use 1-256 letters, digits, '_', '-' and '.' "
            "(not at the start or end, never '..')"
        )
    return name

