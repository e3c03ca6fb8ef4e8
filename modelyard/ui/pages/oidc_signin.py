"""The OIDC sign-in routes of the UI: ``/signin/oidc`` sends the browser to the identity provider
(the flow's state, nonce and PKCE verifier in a short-lived signed cookie), ``/signin/oidc/callback``
checks its answer (``modelyard.auth.oidc.OidcClient``), maps the groups claim to the admin role and
starts a session."""

from __future__ import annotations

import logging
import secrets

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from modelyard.auth.oidc import OidcClient
from modelyard.auth.permissions import public
from modelyard.entities.auth import AuditEntry
from modelyard.exceptions import PermissionDenied
from modelyard.store.auth.sql import now_ms
from modelyard.web.routing import route

logger = logging.getLogger(__name__)
FLOW_COOKIE = "modelyard_oidc"
FLOW_MAX_AGE = 600
CALLBACK = "/signin/oidc/callback"


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
