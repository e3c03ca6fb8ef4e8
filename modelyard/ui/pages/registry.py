"""Model registry pages: the registered models list, a model's page, a version's page.

Reads go through ``services.registry`` (the same store as the REST API); every change (aliases,
stages, tags, descriptions) is made by ``static/registry.js`` through the JSON ``/ajax-api``
endpoints, which refuse form posts and foreign Origins.

Model names may hold spaces, ``?``, ``#``, ``%`` and quotes (never ``/`` nor ``:``, see
``modelyard.store.registry.checks``): links quote them whole (``model_url``), and filters quote
them as search-grammar strings (``_quoted``).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import MODEL_VERSION, READ, REGISTERED_MODEL, needs
from modelyard.entities import ModelVersionStage
from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.ui.pages.features import table_url as feature_table_url
from modelyard.ui.templating import Crumb, page, page_route, render

MODELS_PAGE_SIZE = 50
VERSIONS_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 50
MLMODEL_MAX_BYTES = 1_000_000
STAGES = [s.value for s in ModelVersionStage]  # None, Staging, Production, Archived
# A query with an operator is a filter in the search grammar; plain words search the name.
_GRAMMAR = re.compile(r"[=<>!]|\b(?:LIKE|ILIKE|IN|AND|OR)\b", re.IGNORECASE)


def model_url(name: str) -> str:
    return "/models/" + quote(name, safe="")


def version_url(name: str, version: str | int) -> str:
    return f"{model_url(name)}/versions/{quote(str(version), safe='')}"


def _quoted(text: str) -> str:
    """``text`` as a single-quoted string of the search grammar."""
    return "'" + text.replace("'", "''") + "'"


def models_filter(query: str) -> str | None:
    """The filter string for what was typed in the search box."""
    query = query.strip()
    if not query:
        return None
    if _GRAMMAR.search(query):
        return query
    return "name ILIKE " + _quoted(f"%{query}%")


def python_literal(text: str) -> str:
    """``text`` as a double-quoted Python string literal (for the load snippet)."""
    return json.dumps(text, ensure_ascii=False)


def newest_first(versions) -> list:
    """Model versions by number, newest first (``"10"`` after ``"9"``)."""
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def _helpers() -> dict:
    return {
        "model_url": model_url,
        "version_url": version_url,
        "stages": STAGES,
        "newest_first": newest_first,
    }


# -- /models -------------------------------------------------------------------------------------
@page
def models_page(services, request: Request, ctx: RequestContext):
    query = request.query_params.get("q", "")
    token = request.query_params.get("page_token") or None
    try:
        found = services.registry.search_registered_models(
            ctx, filter_string=models_filter(query), max_results=MODELS_PAGE_SIZE, page_token=token
        )
        error = None
    except InvalidParameterValue as exc:  # a bad filter or token: shown inline above an empty table
        found, error = [], exc.message
    return render(
        request,
        "registry/models.html",
        [Crumb("Models")],
        section="models",
        models=list(found),
        next_token=getattr(found, "token", None),
        query=query,
        error=error,
        **_helpers(),
    )


# -- /models/{name} --------------------------------------------------------------------------------
@page
def model_page(services, request: Request, ctx: RequestContext):
    name = request.path_params["name"]
    registry = services.registry
    model = registry.get_registered_model(ctx, name)
    versions_token = request.query_params.get("versions_token") or None
    history_token = request.query_params.get("history_token") or None
    versions = registry.search_model_versions(
        ctx,
        filter_string=f"name = {_quoted(name)}",
        max_results=VERSIONS_PAGE_SIZE,
        order_by=["version_number DESC"],
        page_token=versions_token,
    )
    history = registry.get_promotion_history(
        ctx, name, max_results=HISTORY_PAGE_SIZE, page_token=history_token
    )
    return render(
        request,
        "registry/model.html",
        [Crumb("Models", "/models"), Crumb(name)],
        section="models",
        model=model,
        aliases=sorted(model.aliases.items(), key=lambda kv: (-int(kv[1]), kv[0])),
        versions=list(versions),
        versions_next=versions.token,
        history=list(history),
        history_next=history.token,
        paged=bool(versions_token or history_token),
        **_helpers(),
    )


# -- /models/{name}/versions/{version} ----------------------------------------------------------------
def _model_file(services, uri: str, name: str) -> bytes | None:
    """The file ``name`` of the version's model folder, when the server can read it cheaply.

    Only artifacts the server holds itself (``mlflow-artifacts:`` under ``--artifacts-destination``,
    or a local folder) are read; anything unreadable or too large gives None.
    """
    from modelyard.artifacts import get_artifact_repository, uri_scheme

    try:
        scheme = uri_scheme(uri)
        if scheme == "mlflow-artifacts" and services.artifacts.serving:
            repo = services.artifacts.repository()
            path = uri.split(":", 1)[1].lstrip("/")
            path = f"{path}/{name}" if path else name
        elif scheme in ("", "file"):
            repo, path = get_artifact_repository(uri, settings=services.settings), name
        else:
            return None
        info = repo.file_info(path)
        if info is None or info.is_dir or (info.file_size or 0) > MLMODEL_MAX_BYTES:
            return None
        return repo.read_bytes(path)
    except (ModelyardError, OSError, ValueError):
        return None


def _feature_spec(services, uri: str):
    """The version's ``feature_spec.yaml`` (a model logged with a training set), or None."""
    import yaml

    from modelyard.features.spec import SPEC_FILE, FeatureSpec

    raw = _model_file(services, uri, SPEC_FILE)
    if raw is None:
        return None
    try:
        return FeatureSpec.from_dict(yaml.safe_load(raw) or {})
    except (ModelyardError, ValueError, TypeError, KeyError, yaml.YAMLError):
        return None


def _signature(services, ctx: RequestContext, uri: str) -> dict | None:
    """Inputs, outputs and params of the version's MLmodel (see ``_model_file``)."""
    import yaml

    from modelyard.models.mlmodel import Model

    raw = _model_file(services, uri, "MLmodel")
    if raw is None:
        return None
    try:
        mlmodel = Model.from_dict(yaml.safe_load(raw))
    except (ModelyardError, ValueError, yaml.YAMLError):
        return None
    sig = mlmodel.signature
    out: dict = {"flavors": sorted(mlmodel.flavors)}
    if sig is None:
        return out

    def rows(schema) -> list[dict]:
        items = []
        for spec in schema or ():
            d = spec.to_dict()
            if d.get("type") == "tensor":
                t = d["tensor-spec"]
                kind = f"tensor {t['dtype']} {tuple(t['shape'])}"
            else:
                kind = str(d.get("type"))
            items.append({"name": d.get("name") or "", "type": kind, "required": d.get("required", True)})
        return items

    out["inputs"] = rows(sig.inputs)
    out["outputs"] = rows(sig.outputs)
    out["params"] = [{"name": p.name, "type": p.type.value, "default": p.default} for p in sig.params or ()]
    return out


@page
def version_page(services, request: Request, ctx: RequestContext):
    name = request.path_params["name"]
    version_text = request.path_params["version"]
    registry = services.registry
    version = registry.get_model_version(ctx, name, version_text)
    model = registry.get_registered_model(ctx, name)
    lineage = registry.get_model_version_lineage(ctx, name, version.version)
    try:
        download_uri = registry.get_model_version_download_uri(ctx, name, version.version)
    except ModelyardError:
        download_uri = None
    signature = _signature(services, ctx, download_uri) if download_uri else None
    feature_spec = _feature_spec(services, download_uri) if download_uri else None
    # aliases that point at other versions: "move champion here"
    elsewhere = sorted((a, v) for a, v in model.aliases.items() if v != version.version)
    example_alias = version.aliases[0] if version.aliases else (elsewhere[0][0] if elsewhere else "champion")
    return render(
        request,
        "registry/model_version.html",
        [Crumb("Models", "/models"), Crumb(name, model_url(name)), Crumb(f"Version {version.version}")],
        section="models",
        model=model,
        mv=version,
        lineage=lineage,
        download_uri=download_uri,
        signature=signature,
        feature_spec=feature_spec,
        feature_table_url=feature_table_url,
        elsewhere=elsewhere,
        uri_version=python_literal(f"models:/{name}/{version.version}"),
        uri_alias=python_literal(f"models:/{name}@{example_alias}"),
        uri_logged=python_literal(f"models:/{version.model_id}") if version.model_id else None,
        **_helpers(),
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/models", models_page, needs=needs(REGISTERED_MODEL, READ)),
        page_route(services, "/models/{name}", model_page, needs=needs(REGISTERED_MODEL, READ, "name")),
        page_route(
            services,
            "/models/{name}/versions/{version}",
            version_page,
            needs=needs(MODEL_VERSION, READ, "name"),
        ),
    ]
