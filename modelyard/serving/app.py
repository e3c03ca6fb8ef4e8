"""``create_scoring_app(config)``: the scoring server as a Starlette app (no module-global state).

MLflow's scoring endpoints:

- ``GET /ping``: 200 (an empty line, as MLflow) once every served model is loaded; 503 with the
  reason while one is loading or failed to load. ``GET /health``: the same status, with each model's
  state, version and load error as JSON.
- ``GET /version``: modelyard's version and each model's serving version (JSON).
- ``POST /invocations`` (the default model, the first served) and ``POST /invocations/<name>``:
  MLflow's scoring protocol (``inputs.py``), answering ``{"predictions": ...}``.

modelyard's additions: ``GET /metrics`` (Prometheus), ``POST /webhooks/registry`` (a registry webhook
target: check the followed aliases now), and the Open Inference Protocol v2 under ``/v2``
(``oip_routes.py``). Every answer of a model carries ``X-Modelyard-Model-Version: <name>/<version>``,
and every answer an ``X-Request-ID``.

Errors are MLflow's JSON ``{"error_code", "message"}`` with the status of the error class: 400 bad
input (naming the column), 413 body too large, 415 content type, 503 model not loaded, 504 timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from modelyard.auth.permissions import MANAGE, READ, SCORING, USE, needs, public
from modelyard.exceptions import ModelyardError, PayloadTooLarge, Unauthenticated
from modelyard.features.serving import online_features
from modelyard.serving.accesslog import AccessLog, RequestInfo
from modelyard.serving.config import ServeConfig
from modelyard.serving.inputs import content_kind, frame_input, parse_body
from modelyard.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from modelyard.serving.outputs import dumps, encode_predictions
from modelyard.serving.service import ScoringService
from modelyard.serving.slots import ServedModel
from modelyard.web.errors import client_error
from modelyard.web.headers import SecurityHeadersMiddleware
from modelyard.web.routing import route

VERSION_HEADER = "X-Modelyard-Model-Version"
JSON_TYPE = "application/json"
WEBHOOK_MAX_BYTES = 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def create_scoring_app(config: ServeConfig, service: ScoringService | None = None) -> Starlette:
    """The app; its lifespan loads the models (startup ends when each was tried once) and stops the
    service at shutdown. Later versions of followed aliases load in the background."""
    from modelyard.serving.oip_routes import oip_routes

    service = service or ScoringService(config)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        service.start()
        # Accept connections only once every model was tried: a worker never answers 503 "loading"
        # to a request another worker could have served (a failed load still starts, to say why).
        await asyncio.to_thread(service.slots.first_load_done.wait)
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop)
            if store_tokens is not None:
                await asyncio.to_thread(store_tokens.close)

    score, state = needs(SCORING, USE, "model"), needs(SCORING, READ)
    routes = [
        route("/ping", ping, methods=["GET"], needs=public()),
        route("/health", health, methods=["GET"], needs=public()),
        route("/version", version, methods=["GET"], needs=state),
        route("/metrics", metrics, methods=["GET"], needs=state),
        route("/invocations", invocations, methods=["POST"], needs=score),
        route("/invocations/{model}", invocations, methods=["POST"], needs=score),
        route("/webhooks/registry", webhook, methods=["POST"], needs=needs(SCORING, MANAGE)),
        *oip_routes(),
    ]
    middleware = [Middleware(SecurityHeadersMiddleware), Middleware(AccessLog, metrics=service.metrics)]
    store_tokens = None
    if config.auth_tokens or config.auth_store:
        from modelyard.auth.permissions import PUBLIC
        from modelyard.serving.auth import BearerTokenGuard, StoreTokens
        from modelyard.serving.config import registry_name
        from modelyard.web.routing import declared

        if config.auth_store:
            served = [registry_name(spec.uri) for spec in config.models]
            store_tokens = StoreTokens(
                config.auth_store, [n for n in served if n], config.auth_default_permission
            )
        open_paths = [path for path, _r, p in declared(routes) if p is not None and p.resource == PUBLIC]
        middleware.append(
            Middleware(BearerTokenGuard, tokens=config.auth_tokens, public_paths=open_paths, store=store_tokens)
        )
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.store_tokens = store_tokens
    app.state.service = service
    return app


# -- helpers shared with oip_routes ----------------------------------------------------------------
def service_of(request: Request) -> ScoringService:
    return request.app.state.service


def info_of(request: Request, endpoint: str) -> RequestInfo:
    info: RequestInfo = request.scope["modelyard"]
    info.endpoint = endpoint
    return info


def json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status, headers=headers, media_type=JSON_TYPE)


def error_response(exc: ModelyardError, info: RequestInfo, served: ServedModel | None = None) -> Response:
    info.error_code = exc.error_code
    headers = {VERSION_HEADER: served.label} if served is not None else None
    return json_response(exc.to_dict(), exc.http_status, headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; PayloadTooLarge (413) past ``limit`` bytes, told by Content-Length or counted."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def with_online_features(served: ServedModel, item, tracking_uri: str | None):
    """The request's input with a feature spec's missing features looked up online (modelyard.features)."""
    schema = served.schema
    frame = online_features(served.model, item.data, tracking_uri, schema.index)
    return item if frame is item.data else frame_input(frame, item.params, schema)


def guarded(endpoint: str) -> Callable[[Handler], Handler]:
    """Any error of a handler as MLflow's JSON error; an unexpected one as INTERNAL_ERROR, no trace."""

    def wrap(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            info = info_of(request, endpoint)
            try:
                return await fn(request)
            except Exception as exc:  # noqa: BLE001 - the server stays up; an unexpected error says nothing more
                return error_response(client_error(exc, endpoint), info)

        return handler

    return wrap


# -- MLflow's scoring endpoints --------------------------------------------------------------------
@guarded("ping")
async def ping(request: Request) -> Response:
    slots = service_of(request).slots
    for slot in slots.slots.values():
        slot.snapshot()  # 503 with the reason when one is not loaded
    return Response("\n", 200, media_type="application/json")


@guarded("health")
async def health(request: Request) -> Response:
    slots = service_of(request).slots
    models = {}
    for name, slot in slots.slots.items():
        current = slot.current
        models[name] = {
            "state": slot.state,
            "uri": slot.spec.uri,
            "version": current.version if current else None,
            "follows_registry": slot.follows,
            "error": slot.error,
        }
    if slots.ready:
        return json_response({"status": "ok", "models": models})
    reasons = "; ".join(f"{n}: {m['error'] or m['state']}" for n, m in models.items() if m["version"] is None)
    info_of(request, "health").error_code = "TEMPORARILY_UNAVAILABLE"
    body = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": f"Not ready: {reasons}", "status": "unavailable"}
    return json_response({**body, "models": models}, 503)


@guarded("version")
async def version(request: Request) -> Response:
    from modelyard import __version__

    slots = service_of(request).slots
    models = {}
    for name, slot in slots.slots.items():
        current = slot.current
        models[name] = {
            "version": current.version if current else None,
            "uri": slot.spec.uri,
            "source": current.source if current else None,
            "loaded_at": current.loaded_at if current else None,
            "previous_versions": slot.history[:-1],
        }
    return json_response({"modelyard_version": __version__, "models": models})


@guarded("metrics")
async def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), 200, media_type=METRICS_CONTENT_TYPE)


async def invocations(request: Request) -> Response:
    """Score a request with MLflow's protocol; every outcome (errors too) goes to the inference log."""
    start = time.perf_counter()
    svc = service_of(request)
    info = info_of(request, "invocations")
    served: ServedModel | None = None
    body = b""
    try:
        served = svc.served(request.path_params.get("model"))
        info.model, info.version = served.name, served.version
        kind = content_kind(request.headers.get("content-type"))
        batcher = served.batcher
        batcher.arriving += 1
        try:
            body = await read_body(request, svc.config.max_body_bytes)
            item = parse_body(kind, body, served.schema)
            item = with_online_features(served, item, svc.config.tracking_uri)
        finally:
            batcher.arriving -= 1
        info.rows = item.rows
        pred = await svc.score(served, item)
        response = Response(encode_predictions(pred), 200, headers={VERSION_HEADER: served.label}, media_type=JSON_TYPE)
    except ModelyardError as exc:
        response = error_response(exc, info, served)
    except Exception as exc:  # noqa: BLE001 - encoding a strange prediction, ...
        response = error_response(ModelyardError(f"{type(exc).__name__}: {str(exc)[:500]}"), info, served)
    if svc.inference_log is not None and served is not None:
        svc.inference_log.record(
            info.request_id, served.name, served.version, response.status_code, time.perf_counter() - start,
            request.headers.get("content-type"), body, response.body,
        )
    return response


@guarded("webhook")
async def webhook(request: Request) -> Response:
    """A registry webhook delivery: verify its signature (when a secret is set), then check the registry."""
    svc = service_of(request)
    body = await read_body(request, WEBHOOK_MAX_BYTES)
    secret = svc.config.webhook_secret
    if secret:
        from modelyard.serving.webhooks import verify

        if not verify(secret, request.headers, body):
            raise Unauthenticated("Invalid or missing webhook signature")
    svc.slots.trigger()
    return json_response({"status": "accepted", "following": [n for n, s in svc.slots.slots.items() if s.follows]})
