"""Webhooks (MLflow 3's webhook API): subscriptions, events, deliveries (no I/O).

Events are ``(entity, action)`` pairs. On the wire (``webhooks.proto``) both are enum names,
``{"entity": "MODEL_VERSION", "action": "CREATED"}``; in payloads and in ``str()`` they are
``model_version.created``. Supported events are MLflow's registry events plus modelyard's
``MODEL_VERSION.STAGE_TRANSITIONED`` (MLflow has no stage event). A webhook's ``secret`` is
write-only: it is never part of ``to_dict``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class WebhookStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: WebhookStatus | str | int | None) -> WebhookStatus:
        from modelyard.exceptions import InvalidParameterValue

        if value is None or value == "":
            return cls.ACTIVE
        if isinstance(value, WebhookStatus):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
            return cls.ACTIVE if value == 1 else cls.DISABLED
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        raise InvalidParameterValue(f"Invalid webhook status {value!r}: expected ACTIVE or DISABLED")


# (entity, action) pairs a webhook may subscribe to.
SUPPORTED_EVENTS: tuple[tuple[str, str], ...] = (
    ("REGISTERED_MODEL", "CREATED"),
    ("MODEL_VERSION", "CREATED"),
    ("MODEL_VERSION", "STAGE_TRANSITIONED"),
    ("MODEL_VERSION_TAG", "SET"),
    ("MODEL_VERSION_TAG", "DELETED"),
    ("MODEL_VERSION_ALIAS", "CREATED"),
    ("MODEL_VERSION_ALIAS", "DELETED"),
)


@dataclass(frozen=True, slots=True, order=True)
class WebhookEvent:
    entity: str
    action: str

    @classmethod
    def parse(cls, value: WebhookEvent | dict | str) -> WebhookEvent:
        """``{"entity": "MODEL_VERSION", "action": "CREATED"}``, ``"model_version.created"`` or an
        event; names are case-insensitive; unsupported pairs raise InvalidParameterValue."""
        from modelyard.exceptions import InvalidParameterValue

        if isinstance(value, WebhookEvent):
            entity, action = value.entity, value.action
        elif isinstance(value, dict):
            entity, action = str(value.get("entity", "")), str(value.get("action", ""))
        elif isinstance(value, str) and "." in value:
            entity, action = value.split(".", 1)
        else:
            raise InvalidParameterValue(f"Invalid webhook event {value!r}: expected entity.action")
        pair = (entity.strip().upper(), action.strip().upper())
        if pair not in SUPPORTED_EVENTS:
            names = ", ".join(f"{e.lower()}.{a.lower()}" for e, a in SUPPORTED_EVENTS)
            raise InvalidParameterValue(
                f"Unsupported webhook event '{entity.lower()}.{action.lower()}'; supported events: {names}"
            )
        return cls(*pair)

    def __str__(self) -> str:
        return f"{self.entity.lower()}.{self.action.lower()}"

    def to_dict(self) -> dict:
        return {"entity": self.entity, "action": self.action}


REGISTERED_MODEL_CREATED = WebhookEvent("REGISTERED_MODEL", "CREATED")
MODEL_VERSION_CREATED = WebhookEvent("MODEL_VERSION", "CREATED")
MODEL_VERSION_STAGE_TRANSITIONED = WebhookEvent("MODEL_VERSION", "STAGE_TRANSITIONED")
MODEL_VERSION_TAG_SET = WebhookEvent("MODEL_VERSION_TAG", "SET")
MODEL_VERSION_TAG_DELETED = WebhookEvent("MODEL_VERSION_TAG", "DELETED")
MODEL_VERSION_ALIAS_CREATED = WebhookEvent("MODEL_VERSION_ALIAS", "CREATED")
MODEL_VERSION_ALIAS_DELETED = WebhookEvent("MODEL_VERSION_ALIAS", "DELETED")


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    name: str
    url: str
    events: tuple[WebhookEvent, ...]
    creation_timestamp: int
    last_updated_timestamp: int
    status: WebhookStatus = WebhookStatus.ACTIVE
    description: str | None = None
    secret: str | None = field(default=None, repr=False)  # write-only, kept for signing

    def to_dict(self) -> dict:
        out: dict = {
            "webhook_id": self.webhook_id,
            "name": self.name,
            "url": self.url,
            "events": [e.to_dict() for e in self.events],
            "status": str(self.status),
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Webhook:
        return cls(
            webhook_id=d["webhook_id"],
            name=d.get("name", ""),
            url=d.get("url", ""),
            events=tuple(WebhookEvent.parse(e) for e in d.get("events") or ()),
            creation_timestamp=int(d.get("creation_timestamp", 0)),
            last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
            status=WebhookStatus.parse(d.get("status")),
            description=d.get("description") or None,
        )


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for its first attempt or a retry
    IN_FLIGHT = "IN_FLIGHT"  # claimed by a delivery worker
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # every attempt failed

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event sent (or to be sent) to one webhook, and how its attempts went."""

    delivery_id: str
    webhook_id: str
    event: str  # "model_version.created"
    status: str
    attempts: int
    created_timestamp: int
    next_attempt_timestamp: int | None = None
    last_attempt_timestamp: int | None = None
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    is_test: bool = False
    payload: str | None = field(default=None, repr=False)  # the JSON body sent

    def to_dict(self) -> dict:
        out: dict = {
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "created_timestamp": self.created_timestamp,
            "is_test": self.is_test,
        }
        for key in (
            "next_attempt_timestamp",
            "last_attempt_timestamp",
            "response_status",
            "response_body",
            "error_message",
            "payload",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> WebhookDelivery:
        return cls(
            delivery_id=d["delivery_id"],
            webhook_id=d.get("webhook_id", ""),
            event=d.get("event", ""),
            status=d.get("status", ""),
            attempts=int(d.get("attempts", 0)),
            created_timestamp=int(d.get("created_timestamp", 0)),
            next_attempt_timestamp=d.get("next_attempt_timestamp"),
            last_attempt_timestamp=d.get("last_attempt_timestamp"),
            response_status=d.get("response_status"),
            response_body=d.get("response_body"),
            error_message=d.get("error_message"),
            is_test=bool(d.get("is_test", False)),
            payload=d.get("payload"),
        )


@dataclass(frozen=True, slots=True)
class WebhookTestResult:
    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"success": self.success}
        if self.response_status is not None:
            out["response_status"] = self.response_status
        if self.response_body is not None:
            out["response_body"] = self.response_body
        if self.error_message is not None:
            out["error_message"] = self.error_message
        return out

    @classmethod
    def from_dict(cls, d: dict) -> WebhookTestResult:
        return cls(
            success=bool(d.get("success", False)),
            response_status=d.get("response_status"),
            response_body=d.get("response_body"),
            error_message=d.get("error_message"),
        )
