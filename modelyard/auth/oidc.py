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
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from modelyard.auth.permissions import public
from modelyard.entities.auth import AuditEntry
from modelyard.exceptions import PermissionDenied
from modelyard.store.auth.sql import now_ms
from modelyard.web.routing import route

logger = logging.getLogger(__name__)
FLOW_COOKIE = "modelyard_oidc"
FLOW_MAX_AGE = 600
CALLBACK = "/signin/oidc/callback"


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


def oidc_routes(runtime, signed_in) -> list[BaseRoute]:
    config = runtime.config
    client = OidcClient(config)
    flows = URLSafeTimedSerializer(config.session_secret(), salt="modelyard-oidc-flow")
    admin_groups = {g.strip() for g in config.oidc_admin_groups.split(",") if g.strip()}

    def redirect_uri(request: Request) -> str:
        return str(request.base_url).rstrip("/") + CALLBACK

    async def begin(request: Request) -> Response:
        url, flow = await run_in_threadpool(client.start, redirect_uri(request))
        flow["next"] = request.query_params.get("next", "/experiments")
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(
            FLOW_COOKIE,
            flows.dumps(flow),
            max_age=FLOW_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/signin/oidc",
        )
        return response

    async def callback(request: Request) -> Response:
        address = request.client.host if request.client else ""
        try:
            flow = flows.loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_MAX_AGE)
            code, state = request.query_params.get("code"), request.query_params.get("state")
            if not code or not secrets.compare_digest(str(state or ""), str(flow.get("state", ""))):
                raise PermissionDenied("The sign-in's state does not match")
            claims = await run_in_threadpool(client.finish, redirect_uri(request), code, flow)
        except (BadSignature, PermissionDenied, httpx.HTTPError, ValueError, KeyError) as exc:
            logger.warning("OIDC sign-in refused: %s", exc)
            runtime.auth.record(
                AuditEntry(
                    now_ms(),
                    None,
                    "oidc",
                    "sign-in",
                    401,
                    address=address,
                    detail="identity provider sign-in refused",
                )
            )
            return RedirectResponse("/signin", status_code=303)
        username = claims.get("preferred_username") or claims.get("email") or claims["sub"]
        groups = claims.get(config.oidc_groups_claim) or []
        is_admin = bool(admin_groups.intersection(groups if isinstance(groups, list) else [groups]))
        user = await run_in_threadpool(runtime.auth.upsert_external_user, str(username), is_admin)
        runtime.auth.record(
            AuditEntry(
                now_ms(),
                user.username,
                "oidc",
                "sign-in",
                200,
                address=address,
                detail=f"groups={','.join(map(str, groups))}" if groups else None,
            )
        )
        response = signed_in(request, user.username, "oidc", flow.get("next"))
        response.delete_cookie(FLOW_COOKIE, path="/signin/oidc")
        return response

    return [
        route("/signin/oidc", begin, methods=["GET"], needs=public()),
        route(CALLBACK, callback, methods=["GET"], needs=public()),
    ]
