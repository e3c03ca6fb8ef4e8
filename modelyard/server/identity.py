"""Who is making a request, for the records that name a user (registry history, new versions).

``bind(request)`` runs before each handler: the user is the HTTP basic-auth user name when the
request carries one (an authenticating proxy in front of the server, or the client's
``MLFLOW_TRACKING_USERNAME``), else the ``X-Modelyard-User`` header. Handlers read it with
``request_user()`` and fall back to a ``user_id`` the client put in the body. Nothing here is an
authentication: with no auth in front of the server, all of it is the client's word.
"""

from __future__ import annotations

import base64
import binascii
from contextvars import ContextVar

from starlette.requests import Request

USER_HEADER = "x-modelyard-user"
MAX_USER_LENGTH = 256
_current: ContextVar[str | None] = ContextVar("modelyard_request_user", default=None)


def _basic_user(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = decoded.partition(":")[0]
    return user or None


def user_from_headers(headers) -> str | None:
    user = _basic_user(headers.get("authorization", "")) or headers.get(USER_HEADER) or None
    if user is None:
        return None
    user = "".join(c for c in user if c.isprintable())[:MAX_USER_LENGTH]
    return user or None


def bind(request: Request) -> None:
    _current.set(user_from_headers(request.headers))


def request_user(fallback: str | None = None) -> str | None:
    """The request's user, else ``fallback`` (what the client said in the body), else None."""
    return _current.get() or (fallback or None)
