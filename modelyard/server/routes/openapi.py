"""``/openapi.json`` and a small ``/docs`` page, generated from the route tables themselves.

The description cannot fall behind the code: it is built from the same Endpoint
declarations (and pydantic request models) the router mounts.
"""

from __future__ import annotations

import html
import re

from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from modelyard import __version__
from modelyard.auth.permissions import READ, SERVER, needs
from modelyard.server import protocol
from modelyard.server import routes as route_modules
from modelyard.server.services import Services
from modelyard.web.routing import route

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}
_STREAMING = [
    ("get", "/api/2.0/mlflow-artifacts/artifacts", "List the entries of an artifact folder (query: path)."),
    (
        "get",
        "/api/2.0/mlflow-artifacts/artifacts/{path}",
        "Download an artifact (streamed; Range supported).",
    ),
    ("put", "/api/2.0/mlflow-artifacts/artifacts/{path}", "Upload an artifact (raw body, streamed)."),
    ("delete", "/api/2.0/mlflow-artifacts/artifacts/{path}", "Delete an artifact or folder."),
    ("get", "/health", "Liveness: answers OK."),
    ("get", "/version", "The MLflow API version this server is compatible with (modelyard's own: /api/2.0/modelyard/version)."),
]


def endpoints() -> list[protocol.Endpoint]:
    out = []
    for module in route_modules.load():
        table = getattr(module, "table", None)
        out.extend(table.endpoints if table else ())
    return out


def build_spec() -> dict:
    schemas: dict = {"Error": ERROR_SCHEMA}
    paths: dict = {}
    for ep in endpoints():
        path = f"/api/{ep.since}.0{ep.path}".replace(":path}", "}")
        op: dict = {
            "summary": ep.summary,
            "operationId": f"{ep.handler.__name__}_{ep.method.lower()}",
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "default": {
                    "description": "An MLflow-style error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        }
        model_schema = ep.request.model_json_schema(
            by_alias=False, ref_template="#/components/schemas/{model}"
        )
        for name, sub in model_schema.pop("$defs", {}).items():
            schemas[name] = sub
        path_params = set(re.findall(r"{(\w+)}", path))
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in sorted(path_params)
        ]
        if ep.method == "GET":
            required = set(model_schema.get("required", []))
            for name, prop in model_schema.get("properties", {}).items():
                if name not in path_params:
                    params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        elif model_schema.get("properties"):
            schemas[ep.request.__name__] = model_schema
            op["requestBody"] = {
                "required": bool(model_schema.get("required")),
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{ep.request.__name__}"}}
                },
            }
        if params:
            op["parameters"] = params
        paths.setdefault(path, {})[ep.method.lower()] = op
    for method, path, summary in _STREAMING:
        paths.setdefault(path, {})[method] = {
            "summary": summary,
            "responses": {"200": {"description": "Success"}},
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelyard tracking server",
            "version": __version__,
            "description": "MLflow's REST API (tracking, logged models, artifact proxy). Every path is also "
            "served under /ajax-api/ instead of /api/.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }


def _docs_page(spec: dict) -> str:
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            rows.append(
                f"<tr><td class=m>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>modelyard API</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#1a1a1a}td{padding:.2rem .8rem;"
        "border-bottom:1px solid #eee}.m{font-weight:600;color:#24548f}code{font-size:14px}</style></head><body>"
        f"<h1>modelyard API {html.escape(spec['info']['version'])}</h1><p>{html.escape(spec['info']['description'])} "
        "Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p><table>"
        + "".join(rows)
        + "</table></body></html>"
    )


def extra_routes(svc: Services) -> list[Route]:
    cache: dict = {}

    def spec() -> dict:
        if "spec" not in cache:
            cache["spec"] = build_spec()
        return cache["spec"]

    async def openapi(_request) -> Response:
        return Response(protocol.encode(spec()), media_type="application/json")

    async def docs(_request) -> Response:
        return HTMLResponse(_docs_page(spec()))

    described = needs(SERVER, READ)
    return [
        route("/openapi.json", openapi, methods=["GET"], needs=described),
        route("/docs", docs, methods=["GET"], needs=described),
    ]
