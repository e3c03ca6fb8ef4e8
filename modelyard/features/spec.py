"""``feature_spec.yaml``: the features a model was trained with, written into the model folder.

It names each feature table and the Delta version the training set read, the lookup keys (the
input's columns) and the table's keys they match, the timestamp keys of time-series tables, each
feature's output column and default, and the model's input columns in training order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelyard.exceptions import InvalidParameterValue

SPEC_FILE = "feature_spec.yaml"
SPEC_VERSION = 1


@dataclass(frozen=True)
class FeatureOutput:
    name: str  # the column in the feature table
    output_name: str  # the column it becomes in the joined frame
    default: Any = None

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "output_name": self.output_name}
        if self.default is not None:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class ResolvedLookup:
    """A ``FeatureLookup`` checked against the catalog: what the join needs, nothing to look up again."""

    table_name: str
    table_version: int
    location: str
    primary_keys: tuple[str, ...]
    lookup_key: tuple[str, ...]
    features: tuple[FeatureOutput, ...]
    timestamp_key: str | None = None  # the table's
    timestamp_lookup_key: str | None = None  # the input's
    timestamp_type: str | None = None  # the table's timestamp column type (Arrow, as text)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(f.output_name for f in self.features)

    def to_dict(self) -> dict:
        out: dict = {
            "table_name": self.table_name,
            "table_version": self.table_version,
            "location": self.location,
            "primary_keys": list(self.primary_keys),
            "lookup_key": list(self.lookup_key),
            "features": [f.to_dict() for f in self.features],
        }
        if self.timestamp_key is not None:
            out["timestamp_key"] = self.timestamp_key
            out["timestamp_lookup_key"] = self.timestamp_lookup_key
            out["timestamp_type"] = self.timestamp_type
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ResolvedLookup:
        return cls(
            table_name=d["table_name"],
            table_version=int(d["table_version"]),
            location=d["location"],
            primary_keys=tuple(d["primary_keys"]),
            lookup_key=tuple(d["lookup_key"]),
            features=tuple(FeatureOutput(f["name"], f["output_name"], f.get("default")) for f in d["features"]),
            timestamp_key=d.get("timestamp_key"),
            timestamp_lookup_key=d.get("timestamp_lookup_key"),
            timestamp_type=d.get("timestamp_type"),
        )


@dataclass(frozen=True)
class FeatureSpec:
    lookups: tuple[ResolvedLookup, ...]
    input_columns: tuple[str, ...]  # what the model was trained on, in order
    label: str | None = None
    exclude_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Model inputs that come from the scored frame, not from a feature table."""
        looked_up = {name for lk in self.lookups for name in lk.output_names}
        return tuple(c for c in self.input_columns if c not in looked_up)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lk.table_name for lk in self.lookups))

    def at_latest_versions(self) -> FeatureSpec:
        """The same lookups reading each table's newest version: scoring uses today's features, the
        versions recorded at training time are lineage."""
        import dataclasses

        from modelyard.features import delta

        return dataclasses.replace(self, lookups=tuple(
            dataclasses.replace(lk, table_version=delta.latest_version(lk.location)) for lk in self.lookups
        ))

    def to_dict(self) -> dict:
        return {
            "feature_spec_version": SPEC_VERSION,
            "input_columns": list(self.input_columns),
            "label": self.label,
            "exclude_columns": list(self.exclude_columns),
            "lookups": [lk.to_dict() for lk in self.lookups],
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        version = d.get("feature_spec_version")
        if version != SPEC_VERSION:
            raise InvalidParameterValue(f"{SPEC_FILE} has version {version!r}; this modelyard reads {SPEC_VERSION}")
        return cls(
            lookups=tuple(ResolvedLookup.from_dict(x) for x in d.get("lookups", ())),
            input_columns=tuple(d.get("input_columns", ())),
            label=d.get("label"),
            exclude_columns=tuple(d.get("exclude_columns", ())),
        )

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / SPEC_FILE
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> FeatureSpec | None:
        """The spec in ``model_dir``, or None for a model logged without a training set."""
        path = Path(model_dir) / SPEC_FILE
        if not path.is_file():
            return None
        return cls.from_dict(yaml.safe_load(path.read_text()) or {})
