"""The table of authenticators a server resolves a request's principal with.

Each authenticator looks at the request headers (and the client's address) and answers a
``Principal`` or None (not mine); the first that answers wins, and a request nobody claims is
anonymous. Without authentication the one authenticator is the client's word: the HTTP basic-auth
user name (an authenticating proxy in front of the server, or the client's
``MLFLOW_TRACKING_USERNAME``), else the ``X-Modelyard-User`` header — not a proof
(``authenticated=False``). With authentication on (``authenticators_for``) that one is left out:
a session cookie, ``Authorization: Bearer <token>`` or HTTP Basic with a password (or a token as the
password) are checked against the identity store; credentials that do not check out resolve to
``FAILED``, which every protected route answers with 401.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

from modelyard.auth.context import ANONYMOUS, Principal

if TYPE_CHECKING:
    from modelyard.auth.service import AuthService
    from modelyard.auth.sessions import SessionCodec

USER_HEADER = "x-modelyard-user"
MAX_USER_LENGTH = 256
MAX_HEADER_LENGTH = 8192

Authenticator = Callable[..., Principal | None]  # (headers, address="") -> Principal | None
FAILED = Principal(None, authenticated=False, method="failed")


def _clean(user: str | None) -> str | None:
    if not user:
        return None
    user = "".join(c for c in user if c.isprintable())[:MAX_USER_LENGTH]
    return user or None


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` Authorization header (None for any other or a malformed one)."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not value or len(value) > MAX_HEADER_LENGTH:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


def basic_user(authorization: str) -> str | None:
    """The user name of a ``Basic`` Authorization header (None for any other or a malformed one)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def claimed_user(headers: Mapping[str, str], address: str = "") -> Principal | None:
    """The user the client names (basic auth, else the header), unverified."""
    user = _clean(basic_user(headers.get("authorization", "")) or headers.get(USER_HEADER))
    return Principal(user, authenticated=False, method="claimed") if user else None


# (name, authenticator), tried in order: the server's table when authentication is off.
AUTHENTICATORS: list[tuple[str, Authenticator]] = [("claimed", claimed_user)]


def user_principal(user, method: str, token=None) -> Principal:
    from modelyard.auth.levels import parse_scopes

    return Principal(
        user.username,
        authenticated=True,
        admin=user.is_admin,
        method=method,
        user_id=user.id,
        scopes=parse_scopes(token.scopes) if token is not None else None,
        token_id=token.id if token is not None else None,
    )


def authenticators_for(service: AuthService, sessions: SessionCodec) -> list[tuple[str, Authenticator]]:
    """The table with authentication on: session cookie, then the Authorization header."""
    from modelyard.auth import tokens
    from modelyard.auth.sessions import COOKIE

    def token_principal(secret: str) -> Principal:
        found = service.authenticate_token(secret)
        return user_principal(found[1], "token", found[0]) if found else FAILED

    def authorization(headers: Mapping[str, str], address: str = "") -> Principal | None:
        header = headers.get("authorization")
        if header is None:
            return None
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip() and len(value) < MAX_HEADER_LENGTH:
            return token_principal(value.strip())
        credentials = basic_credentials(header)
        if credentials is None:
            return FAILED  # Digest, broken base64, empty parts ...: a clean 401
        user, password = credentials
        if tokens.looks_like_token(password):
            principal = token_principal(password)
            return principal if principal.name in (None, user) or user == "token" else FAILED
        found = service.authenticate_password(user, password, address)
        return user_principal(found, "password") if found else FAILED

    def session(headers: Mapping[str, str], address: str = "") -> Principal | None:
        raw = headers.get("cookie")
        if not raw or COOKIE not in raw:
            return None
        try:
            morsel = SimpleCookie(raw).get(COOKIE)
        except CookieError:
            return None
        data = sessions.read(morsel.value) if morsel else None
        if data is None:
            return None
        user = service.current_user(data["u"])
        if user is None:
            return None
        return Principal(
            user.username,
            authenticated=True,
            admin=user.is_admin,
            method=data.get("m", "session"),
            user_id=user.id,
            scopes=None,
            token_id=None,
            csrf=data["c"],
        )

    return [("authorization", authorization), ("session", session)]


def resolve_principal(
    headers: Mapping[str, str],
    authenticators: list[tuple[str, Authenticator]] | None = None,
    address: str = "",
) -> Principal:
    for _name, authenticate in authenticators if authenticators is not None else AUTHENTICATORS:
        principal = authenticate(headers, address)
        if principal is not None:
            return principal
    return ANONYMOUS
