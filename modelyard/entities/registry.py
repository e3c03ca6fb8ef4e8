"""Model registry entities: registered models, versions, stages, promotion events (no I/O).

``to_dict`` / ``from_dict`` use MLflow's JSON shapes (``model_registry.proto``): ``version`` is a
string on the wire, timestamps are milliseconds, unset fields are omitted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

STAGE_DELETED_INTERNAL = "Deleted_Internal"
"""Stage of a deleted (tombstoned) version: kept so that its number is never reused."""


class ModelVersionStage(enum.StrEnum):
    """MLflow's fixed stages (deprecated since MLflow 2.9 in favour of aliases, still served)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: ModelVersionStage | str | None) -> ModelVersionStage:
        """Case-insensitive: ``"production"`` -> ``Production``; ``None``/``""`` -> ``None``."""
        from modelyard.exceptions import InvalidParameterValue

        if isinstance(value, ModelVersionStage):
            return value
        text = "None" if value is None or (isinstance(value, str) and not value.strip()) else value
        if isinstance(text, str):
            for stage in cls:
                if text.strip().lower() == stage.value.lower():
                    return stage
        raise InvalidParameterValue(
            f"Invalid Model Version stage: {value}. Value must be one of "
            f"{', '.join(s.value for s in cls)}."
        )

    @property
    def is_active(self) -> bool:
        """Staging and Production: the stages ``archive_existing_versions`` applies to."""
        return self in (ModelVersionStage.STAGING, ModelVersionStage.PRODUCTION)


class ModelVersionStatus(enum.StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"

    def __str__(self) -> str:
        return self.value


def _tags_json(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _tags_of(items: list[dict] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or ()}


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str = "None"
    description: str | None = None
    user_id: str | None = None
    source: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = ModelVersionStatus.READY.value
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out: dict = {
            "name": self.name,
            "version": self.version,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "current_stage": self.current_stage,
            "status": self.status,
        }
        for key in ("description", "user_id", "source", "run_id", "run_link", "model_id", "status_message"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.tags:
            out["tags"] = _tags_json(self.tags)
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ModelVersion:
        return cls(
            name=d["name"],
            version=str(d["version"]),
            creation_timestamp=int(d.get("creation_timestamp", 0)),
            last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
            current_stage=d.get("current_stage") or "None",
            description=d.get("description") or None,
            user_id=d.get("user_id") or None,
            source=d.get("source") or None,
            run_id=d.get("run_id") or None,
            run_link=d.get("run_link") or None,
            model_id=d.get("model_id") or None,
            status=d.get("status") or ModelVersionStatus.READY.value,
            status_message=d.get("status_message") or None,
            tags=_tags_of(d.get("tags")),
            aliases=tuple(d.get("aliases") or ()),
        )


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    user_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    latest_versions: tuple[ModelVersion, ...] = ()
    deployment_job_id: str | None = None

    def to_dict(self) -> dict:
        out: dict = {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.description:
            out["description"] = self.description
        if self.user_id:
            out["user_id"] = self.user_id
        if self.latest_versions:
            out["latest_versions"] = [mv.to_dict() for mv in self.latest_versions]
        if self.tags:
            out["tags"] = _tags_json(self.tags)
        if self.aliases:
            out["aliases"] = [{"alias": a, "version": v} for a, v in self.aliases.items()]
        if self.deployment_job_id:
            out["deployment_job_id"] = self.deployment_job_id
        return out

    @classmethod
    def from_dict(cls, d: dict) -> RegisteredModel:
        return cls(
            name=d["name"],
            creation_timestamp=int(d.get("creation_timestamp", 0)),
            last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
            description=d.get("description") or None,
            user_id=d.get("user_id") or None,
            tags=_tags_of(d.get("tags")),
            aliases={a["alias"]: str(a["version"]) for a in d.get("aliases") or ()},
            latest_versions=tuple(ModelVersion.from_dict(v) for v in d.get("latest_versions") or ()),
            deployment_job_id=d.get("deployment_job_id") or None,
        )


class PromotionKind(enum.StrEnum):
    ALIAS = "alias"
    STAGE = "stage"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PromotionEvent:
    """One move of an alias (set, re-point, delete) or one stage transition of a version.

    Alias events: ``target`` is the alias; ``from_version`` -> ``to_version`` (``None`` when the
    alias was created / removed). Stage events: ``target`` is the stage entered, ``version`` the
    version that moved, ``from_stage`` -> ``to_stage``. ``reason`` says why when the move was a
    side effect (``archive_existing_versions``, ``version deleted``).
    """

    event_id: int
    name: str
    kind: str
    target: str
    action: str  # alias: created | moved | deleted; stage: transitioned | archived
    timestamp: int
    user_id: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    reason: str | None = None

    @property
    def version(self) -> str | None:
        """The version this event is about: the one moved into a stage or pointed at."""
        return self.to_version if self.to_version is not None else self.from_version

    def to_dict(self) -> dict:
        out: dict = {
            "event_id": self.event_id,
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "action": self.action,
            "timestamp": self.timestamp,
        }
        for key in ("user_id", "from_version", "to_version", "from_stage", "to_stage", "reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> PromotionEvent:
        def text(key: str) -> str | None:
            value = d.get(key)
            return None if value is None else str(value)

        return cls(
            event_id=int(d.get("event_id", 0)),
            name=d["name"],
            kind=d["kind"],
            target=d["target"],
            action=d["action"],
            timestamp=int(d.get("timestamp", 0)),
            user_id=d.get("user_id"),
            from_version=text("from_version"),
            to_version=text("to_version"),
            from_stage=d.get("from_stage"),
            to_stage=d.get("to_stage"),
            reason=d.get("reason"),
        )
