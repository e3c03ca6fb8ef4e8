"""The Open Inference Protocol v2 endpoints (conversions in ``oip.py``).

``GET /v2`` (server metadata), ``GET /v2/health/live``, ``GET /v2/health/ready``,
``GET /v2/models/{name}[/versions/{version}]`` (model metadata), ``.../ready`` and
``POST .../infer``. A version in the path must be the one serving now (404 otherwise): a client
that pinned a version learns at once that the alias moved. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.auth.permissions import READ, SCORING, USE, needs, public
from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceDoesNotExist
from modelyard.serving.app import VERSION_HEADER, info_of, json_response, read_body, service_of
from modelyard.serving.oip import infer_response, model_metadata, parse_infer
from modelyard.serving.slots import ServedModel
from modelyard.web.routing import route


def oip_routes() -> list[Route]:
    state, model_state, score = needs(SCORING, READ), needs(SCORING, READ, "model"), needs(SCORING, USE, "model")
    routes = [
        route("/v2", server_metadata, methods=["GET"], needs=state),
        route("/v2/health/live", live, methods=["GET"], needs=public()),
        route("/v2/health/ready", ready, methods=["GET"], needs=public()),
    ]
    for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
        routes += [
            route(base, metadata, methods=["GET"], needs=model_state),
            route(base + "/ready", model_ready, methods=["GET"], needs=model_state),
            route(base + "/infer", infer, methods=["POST"], needs=score),
        ]
    return routes


def _error(exc: ModelyardError, request: Request, served: ServedModel | None = None) -> Response:
    info_of(request, request.scope["modelyard"].endpoint).error_code = exc.error_code
    headers = {VERSION_HEADER: served.label} if served is not None else None
    return json_response({"error": exc.message}, exc.http_status, headers)


def _served(request: Request) -> ServedModel:
    """The snapshot of the model in the path; 404 for an unknown name or a version not serving now."""
    svc = service_of(request)
    name = request.path_params["model"]
    if name not in svc.slots.slots:
        raise ResourceDoesNotExist(f"Model {name!r} is not served here; served: {', '.join(svc.slots.slots)}")
    served = svc.served(name)
    wanted = request.path_params.get("version")
    if wanted is not None and wanted != served.version:
        raise ResourceDoesNotExist(f"Model {name!r} version {wanted!r} is not served; version {served.version} is")
    return served


async def server_metadata(request: Request) -> Response:
    from modelyard import __version__

    info_of(request, "oip_metadata")
    return json_response({"name": "modelyard", "version": __version__, "extensions": []})


async def live(request: Request) -> Response:
    info_of(request, "oip_health")
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    info_of(request, "oip_health")
    is_ready = service_of(request).slots.ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def metadata(request: Request) -> Response:
    info_of(request, "oip_metadata")
    try:
        served = _served(request)
    except ModelyardError as exc:
        return _error(exc, request)
    body = model_metadata(served.name, [served.version], served.model.metadata.signature)
    return json_response(body, headers={VERSION_HEADER: served.label})


async def model_ready(request: Request) -> Response:
    info = info_of(request, "oip_health")
    name = request.path_params["model"]
    try:
        served = _served(request)
    except ModelyardError as exc:
        if exc.http_status == 404:
            return _error(exc, request)
        return json_response({"name": name, "ready": False}, 503)
    info.model, info.version = served.name, served.version
    return json_response({"name": name, "version": served.version, "ready": True})


async def infer(request: Request) -> Response:
    start = time.perf_counter()
    svc = service_of(request)
    info = info_of(request, "oip_infer")
    served: ServedModel | None = None
    body = b""
    try:
        served = _served(request)
        info.model, info.version = served.name, served.version
        served.batcher.arriving += 1
        try:
            body = await read_body(request, svc.config.max_body_bytes)
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidParameterValue(f"Invalid JSON in the inference request: {exc}") from None
            item = parse_infer(doc, served.schema)
        finally:
            served.batcher.arriving -= 1
        info.rows = item.rows
        pred = await svc.score(served, item)
        payload = infer_response(served.name, served.version, doc.get("id"), pred)
        response = json_response(payload, headers={VERSION_HEADER: served.label})
    except ModelyardError as exc:
        response = _error(exc, request, served)
    except Exception as exc:  # noqa: BLE001
        response = _error(ModelyardError(f"{type(exc).__name__}: {str(exc)[:500]}"), request, served)
    if svc.inference_log is not None and served is not None:
        svc.inference_log.record(
            info.request_id, served.name, served.version, response.status_code, time.perf_counter() - start,
            request.headers.get("content-type"), body, response.body,
        )
    return response
