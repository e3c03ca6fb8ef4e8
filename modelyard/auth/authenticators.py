"""The table of authenticators a server resolves a request's principal with.

Each authenticator looks at the request headers and answers a ``Principal`` or None (not mine);
the first that answers wins, and a request nobody claims is anonymous. The built-in one is the
behaviour modelyard always had: the HTTP basic-auth user name (an authenticating proxy in front of
the server, or the client's ``MLFLOW_TRACKING_USERNAME``), else the ``X-Modelyard-User`` header —
the client's word, not a proof (``authenticated=False``). Real authenticators (passwords, tokens,
sessions, OIDC) are added to ``AUTHENTICATORS`` by the authentication issue.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping

from modelyard.auth.context import ANONYMOUS, Principal

USER_HEADER = "x-modelyard-user"
MAX_USER_LENGTH = 256

Authenticator = Callable[[Mapping[str, str]], Principal | None]


def _clean(user: str | None) -> str | None:
    if not user:
        return None
    user = "".join(c for c in user if c.isprintable())[:MAX_USER_LENGTH]
    return user or None


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


def claimed_user(headers: Mapping[str, str]) -> Principal | None:
    """The user the client names (basic auth, else the header), unverified."""
    user = _clean(basic_user(headers.get("authorization", "")) or headers.get(USER_HEADER))
    return Principal(user, authenticated=False, method="claimed") if user else None


# (name, authenticator), tried in order.
AUTHENTICATORS: list[tuple[str, Authenticator]] = [("claimed", claimed_user)]


def resolve_principal(
    headers: Mapping[str, str], authenticators: list[tuple[str, Authenticator]] | None = None
) -> Principal:
    for _name, authenticate in authenticators if authenticators is not None else AUTHENTICATORS:
        principal = authenticate(headers)
        if principal is not None:
            return principal
    return ANONYMOUS
