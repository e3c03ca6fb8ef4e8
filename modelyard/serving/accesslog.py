"""Request ids, the per-request metrics and one structured access-log line per request (ASGI middleware).

The request id is the incoming ``X-Request-ID`` when it is a sane token (letters, digits, ``-_.:``,
at most 128), else a new uuid; it is echoed in the response's ``X-Request-ID``. Handlers say which
model and version answered (and the error code) through ``scope["modelyard"]``, a ``RequestInfo``.

The line goes to the ``modelyard.serving.access`` logger at INFO as one JSON object::

    {"time": "...", "request_id": "...", "method": "POST", "path": "/invocations", "status": 200,
     "duration_ms": 1.42, "model": "churn", "version": "3", "rows": 1, "error_code": null, "client": "...",
     "pid": 4242}

(``pid``: the worker process that answered, with ``models serve --workers N``.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from modelyard.serving.metrics import ServingMetrics

logger = logging.getLogger("modelyard.serving.access")

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9\-_.:]{1,128}$")


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    endpoint: str = "other"
    model: str | None = None
    version: str | None = None
    rows: int | None = None
    error_code: str | None = None


class AccessLog:
    def __init__(self, app: Any, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = _request_id(scope)
        info = scope["modelyard"] = RequestInfo(rid)
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_request(info.model or "-", info.endpoint, status, seconds, info.error_code)
            if logger.isEnabledFor(logging.INFO):
                logger.info(_line(scope, info, status, seconds))


def _request_id(scope: dict) -> str:
    for key, value in scope["headers"]:
        if key == b"x-request-id" and _SANE_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


def _line(scope: dict, info: RequestInfo, status: int, seconds: float) -> str:
    client = scope.get("client")
    return orjson.dumps(
        {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "request_id": info.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000.0, 3),
            "model": info.model,
            "version": info.version,
            "rows": info.rows,
            "error_code": info.error_code,
            "client": f"{client[0]}:{client[1]}" if client else None,
            "pid": os.getpid(),
        }
    ).decode()
