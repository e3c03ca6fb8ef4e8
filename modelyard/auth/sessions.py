"""UI sessions: a signed cookie (itsdangerous, with the server's secret shared by every worker)
holding the user name, how they signed in and the session's CSRF token."""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "modelyard_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class SessionCodec:
    def __init__(self, secret: str, max_age: int) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="modelyard-session")
        self.max_age = max_age

    def issue(self, username: str, method: str = "session") -> tuple[str, str]:
        """(cookie value, CSRF token) of a new session."""
        csrf = secrets.token_urlsafe(24)
        return self.serializer.dumps({"u": username, "m": method, "c": csrf}), csrf

    def read(self, value: str) -> dict | None:
        try:
            data = self.serializer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("u"), str)
            or not isinstance(data.get("c"), str)
        ):
            return None
        return data


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))
