"""Sending one webhook delivery: sign, check the target, POST, classify the answer.

Wire format (MLflow 3's, so receivers written for MLflow work unchanged)::

    POST <url>
    Content-Type: application/json
    X-MLflow-Delivery-Id: <id, stable across retries>
    X-MLflow-Timestamp: <unix seconds of this attempt>
    X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>

    {"entity": "model_version", "action": "created", "timestamp": "...", "data": {...}}

The signature header is sent only when the webhook has a secret. Receivers should recompute it
(``verify_signature``) and reject old timestamps to stop replays.

The target is checked at every attempt (``targets.check``) and the request goes to the address
that was checked (Host header and TLS SNI keep the name), with no proxies from the environment and
no redirects followed: a receiver cannot bounce the server to an internal address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelyard import __version__
from modelyard.exceptions import InvalidParameterValue
from modelyard.settings import Settings
from modelyard.store.registry import targets

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BODY_KEPT = 1000
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str, delivery_id: str, timestamp: str, payload: str) -> str:
    content = f"{delivery_id}.{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_signature(
    secret: str, headers: dict[str, str], payload: str, max_age_s: float | None = 300
) -> bool:
    """What a receiver does: recompute the signature (constant-time compare) and check the age."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    delivery_id = lowered.get(DELIVERY_ID_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not delivery_id or not given:
        return False
    if max_age_s is not None and abs(time.time() - int(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, delivery_id, timestamp, payload), given)


@dataclass(frozen=True, slots=True)
class Outcome:
    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    retryable: bool = False


def _request_url(target: targets.Target) -> tuple[httpx.URL, dict[str, str], dict]:
    import httpx  # on first delivery: servers that send no webhook never import it

    url = httpx.URL(target.url)
    if target.address is None:
        return url, {}, {}
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url.copy_with(host=target.address), {"Host": host_header}, extensions


def send(url: str, payload: str, delivery_id: str, secret: str | None, settings: Settings) -> Outcome:
    """One attempt. Never raises: every failure is an Outcome (``retryable`` for transient ones)."""
    try:
        target = targets.check(url, settings.server.webhook_allow_private_targets)
    except InvalidParameterValue as exc:
        return Outcome(False, error_message=f"Target refused: {exc.message}")
    timestamp = str(int(time.time()))
    request_url, headers, extensions = _request_url(target)
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": f"modelyard-webhooks/{__version__}",
            DELIVERY_ID_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
        }
    )
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, payload)
    import httpx

    try:
        with httpx.Client(
            timeout=settings.server.webhook_timeout, trust_env=False, follow_redirects=False
        ) as client:
            response = client.post(
                request_url, content=payload.encode("utf-8"), headers=headers, extensions=extensions
            )
    except httpx.HTTPError as exc:
        return Outcome(False, error_message=f"{type(exc).__name__}: {exc}"[:MAX_BODY_KEPT], retryable=True)
    body = response.text[:MAX_BODY_KEPT]
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, body)
    return Outcome(
        False,
        response.status_code,
        body,
        f"The receiver answered HTTP {response.status_code}",
        retryable=response.status_code in RETRY_STATUSES,
    )
