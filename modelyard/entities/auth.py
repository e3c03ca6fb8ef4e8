"""Users, API tokens and audit entries (plain values, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    is_admin: bool = False
    password_hash: str | None = None
    source: str = "password"
    created_at: int = 0

    def to_dict(self) -> dict:
        """MLflow's user JSON (never the hash)."""
        return {"id": self.id, "username": self.username, "is_admin": self.is_admin}


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    scopes: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    def active(self, now_ms: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now_ms)

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "username": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": self.scopes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    timestamp: int
    username: str | None
    method: str
    action: str
    status: int
    resource_kind: str | None = None
    resource_id: str | None = None
    address: str | None = None
    request_id: str | None = None
    detail: str | None = None
    id: int | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "timestamp": self.timestamp,
            "username": self.username,
            "method": self.method,
            "action": self.action,
            "status": self.status,
            "resource_kind": self.resource_kind,
            "resource_id": self.resource_id,
            "address": self.address,
            "request_id": self.request_id,
            "detail": self.detail,
        }
