"""``FeatureLookup``: which features of which table to join, and by which columns of the input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.exceptions import InvalidParameterValue


def _names(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidParameterValue(f"{what} must be column names, got {item!r}")
    return items


@dataclass(frozen=True)
class FeatureLookup:
    """Join ``feature_names`` (default: every non-key column) of ``table_name`` onto the input rows.

    ``lookup_key`` names the input's columns matching the table's primary keys, in order. For a
    time-series table, ``timestamp_lookup_key`` names the input's timestamp column: each row gets
    the latest feature row at or before it (never after). ``rename_outputs`` maps a feature to its
    output column name; ``default_values`` fills a feature where no row matched (or its value is null).
    """

    table_name: str
    feature_names: Sequence[str] | str | None = None
    lookup_key: Sequence[str] | str = ()
    timestamp_lookup_key: str | None = None
    rename_outputs: dict[str, str] = field(default_factory=dict)
    default_values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.table_name, str) or not self.table_name:
            raise InvalidParameterValue("FeatureLookup needs a table_name")
        object.__setattr__(self, "feature_names", _names(self.feature_names, "feature_names") or None)
        object.__setattr__(self, "lookup_key", _names(self.lookup_key, "lookup_key"))
        if not self.lookup_key:
            raise InvalidParameterValue(f"FeatureLookup of {self.table_name!r} needs a lookup_key")
        if self.timestamp_lookup_key is not None and not isinstance(self.timestamp_lookup_key, str):
            raise InvalidParameterValue("timestamp_lookup_key must be one column name")
        object.__setattr__(self, "rename_outputs", dict(self.rename_outputs or {}))
        object.__setattr__(self, "default_values", dict(self.default_values or {}))

    def output_name(self, feature: str) -> str:
        return self.rename_outputs.get(feature, feature)
