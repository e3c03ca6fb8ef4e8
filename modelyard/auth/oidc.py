"""OIDC sign-in for the UI (authorization code flow with PKCE and a nonce): Authlib builds the
authorization request (PKCE S256), joserfc (Authlib's JOSE library) checks the ID token against the
provider's keys.

The provider's groups claim maps to roles: members of ``oidc_admin_groups`` are admins, everyone
else a user with the default permission and their grants. An account is made on first sign-in
(``source = "oidc"``, no password)."""

from __future__ import annotations

import functools
import logging
import secrets
import time

import httpx

from modelyard.exceptions import PermissionDenied

logger = logging.getLogger(__name__)


class OidcClient:
    def __init__(self, config) -> None:
        self.config = config

    @functools.cached_property
    def metadata(self) -> dict:
        response = httpx.get(self.config.oidc_discovery_url, timeout=10)
        response.raise_for_status()
        return response.json()

    def start(self, redirect_uri: str) -> tuple[str, dict]:
        """The provider's authorization URL and what the callback must find again."""
        from authlib.common.urls import add_params_to_uri
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        state, nonce, verifier = (secrets.token_urlsafe(n) for n in (24, 24, 48))
        url = add_params_to_uri(
            self.metadata["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", self.config.oidc_client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "openid profile email"),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", create_s256_code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    def finish(self, redirect_uri: str, code: str, flow: dict) -> dict:
        """The verified claims of the ID token the code is exchanged for."""
        from joserfc import jwt
        from joserfc.jwk import KeySet

        answer = httpx.post(
            self.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": flow["verifier"],
            },
            auth=(self.config.oidc_client_id, self.config.oidc_client_secret or ""),
            timeout=10,
        )
        answer.raise_for_status()
        token = answer.json()
        keys = KeySet.import_key_set(httpx.get(self.metadata["jwks_uri"], timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys)
        claims = decoded.claims
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if (
            claims.get("iss") != self.metadata.get("issuer")
            or self.config.oidc_client_id not in audiences
            or claims.get("nonce") != flow["nonce"]
            or float(claims.get("exp", 0)) < time.time()
        ):
            raise PermissionDenied("The identity provider's answer does not check out")
        return claims
