"""Feature-table catalog entries (no I/O).

A feature table is a Delta Lake table with primary keys (and, for a time series, timestamp keys)
whose data lives at ``location``; its catalog entry is kept in the tracking database.
``to_dict`` / ``from_dict`` are the JSON shape of the REST API (timestamps in milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    name: str
    dtype: str  # the Arrow type as text, e.g. "int64", "timestamp[us, tz=UTC]"
    nullable: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureColumn:
        return cls(d["name"], d["dtype"], bool(d.get("nullable", True)))


@dataclass(frozen=True, slots=True)
class OnlinePublish:
    """Where a table was last published online, and which Delta version that was."""

    online_store: str
    version: int
    published_time: int

    def to_dict(self) -> dict:
        return {"online_store": self.online_store, "version": self.version, "published_time": self.published_time}

    @classmethod
    def from_dict(cls, d: dict) -> OnlinePublish:
        return cls(d["online_store"], int(d["version"]), int(d["published_time"]))


@dataclass(frozen=True, slots=True)
class FeatureTable:
    name: str
    primary_keys: tuple[str, ...]
    timestamp_keys: tuple[str, ...]
    columns: tuple[FeatureColumn, ...]
    location: str
    current_version: int
    creation_time: int
    last_updated_time: int
    description: str | None = None
    creator: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    online_stores: tuple[OnlinePublish, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Primary keys then timestamp keys: what identifies one row."""
        return self.primary_keys + self.timestamp_keys

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every column that is not a key."""
        keys = set(self.keys)
        return tuple(c.name for c in self.columns if c.name not in keys)

    def column(self, name: str) -> FeatureColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "primary_keys": list(self.primary_keys),
            "timestamp_keys": list(self.timestamp_keys),
            "columns": [c.to_dict() for c in self.columns],
            "location": self.location,
            "current_version": self.current_version,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
            "online_stores": [p.to_dict() for p in self.online_stores],
        }
        if self.description is not None:
            out["description"] = self.description
        if self.creator is not None:
            out["creator"] = self.creator
        return out

    @classmethod
    def from_dict(cls, d: dict) -> FeatureTable:
        return cls(
            name=d["name"],
            primary_keys=tuple(d.get("primary_keys", ())),
            timestamp_keys=tuple(d.get("timestamp_keys", ())),
            columns=tuple(FeatureColumn.from_dict(c) for c in d.get("columns", ())),
            location=d["location"],
            current_version=int(d["current_version"]),
            creation_time=int(d["creation_time"]),
            last_updated_time=int(d["last_updated_time"]),
            description=d.get("description"),
            creator=d.get("creator"),
            tags={t["key"]: t.get("value", "") for t in d.get("tags", ())},
            online_stores=tuple(OnlinePublish.from_dict(p) for p in d.get("online_stores", ())),
        )
