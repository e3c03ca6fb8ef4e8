"""The one mapping from any exception to what a client is told, and a renderer per output kind.

``client_error(exc)`` is the only place that decides: a ``ModelyardError`` is told as it is (its
``error_code``, message and HTTP status); anything else is logged with its traceback and told as a
bare ``INTERNAL_ERROR`` carrying the request id — never its class name, text or stack. The JSON
renderer serves the API, the artifact proxy and downloads; the UI renders the same error as a page
(``modelyard.ui.templating.page``); the scoring server as MLflow's scoring JSON (``modelyard.serving``).
"""

from __future__ import annotations

import logging

import orjson
from starlette.responses import Response

from modelyard.auth.context import current
from modelyard.exceptions import ModelyardError

logger = logging.getLogger(__name__)


def client_error(exc: BaseException, where: str = "") -> ModelyardError:
    """What the client may know of ``exc``."""
    if isinstance(exc, ModelyardError):
        return exc
    ctx = current()
    request_id = ctx.request_id if ctx is not None else ""
    logger.error("unexpected error%s (request %s)", f" in {where}" if where else "", request_id, exc_info=exc)
    suffix = f" (request id {request_id})" if request_id else ""
    return ModelyardError(f"Internal server error{suffix}; the details are in the server log")


def error_body(exc: ModelyardError) -> dict:
    return {"error_code": exc.error_code, "message": exc.message}


def json_error(
    exc: BaseException, *, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    """MLflow's JSON error body ``{"error_code", "message"}`` with the error's HTTP status."""
    err = client_error(exc)
    return Response(
        orjson.dumps(error_body(err)), status or err.http_status, headers, media_type="application/json"
    )
