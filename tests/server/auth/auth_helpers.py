"""Constants and header makers of the authentication tests."""

from __future__ import annotations

import base64

ADMIN_PASSWORD = "correct-admin-secret-7"
PASSWORD = "a-long-user-password-9"
API = "/api/2.0/mlflow"


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


ADMIN = basic("admin", ADMIN_PASSWORD)
