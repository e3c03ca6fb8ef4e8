"""Artifact browser (``/runs/{run_id}/artifacts?path=``): a folder tree and a preview of the selected file.

The folders on the way to the selected path are expanded; previews come from ``ui/previews.py``,
downloads from ``ui/artifact_files.py`` (MLflow's ``/get-artifact`` routes). ``?model=<model_id>``
browses one of the run's logged models (MLflow 3 keeps their files outside the run's folder).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.artifacts.paths import validate_artifact_path
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, needs
from modelyard.entities import FileInfo
from modelyard.exceptions import ModelyardError, ResourceDoesNotExist
from modelyard.ui.artifact_files import ArtifactRoot, artifact_root, download_routes
from modelyard.ui.previews import MAX_LOGGED_MODELS, build_preview, human_size
from modelyard.ui.templating import Crumb, page, page_route, render

LIST_LIMIT = 1000  # entries shown per folder


# -- the page ----------------------------------------------------------------------------------
@dataclass
class Node:
    name: str
    path: str
    is_dir: bool
    size: str
    href: str
    current: bool = False
    open: bool = False
    children: list[Node] = field(default_factory=list)
    more: int = 0


def _sorted(infos: list[FileInfo]) -> list[FileInfo]:
    return sorted(infos, key=lambda i: (not i.is_dir, i.path.rsplit("/", 1)[-1].lower()))


def _tree(root: ArtifactRoot, selected: str, href) -> tuple[list[Node], int]:
    """The root's entries, each folder on the way to ``selected`` expanded (at most ``LIST_LIMIT`` a level)."""

    def level(folder: str) -> tuple[list[Node], int]:
        infos = _sorted(root.list(folder))
        nodes = []
        for info in infos[:LIST_LIMIT]:
            node = Node(
                name=info.path.rsplit("/", 1)[-1],
                path=info.path,
                is_dir=info.is_dir,
                size="" if info.is_dir else human_size(info.file_size),
                href=href(info.path),
                current=info.path == selected,
            )
            if info.is_dir and (selected == info.path or selected.startswith(info.path + "/")):
                node.open = True
                node.children, node.more = level(info.path)
            nodes.append(node)
        return nodes, max(len(infos) - LIST_LIMIT, 0)

    return level("")


def _link(base: str, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v}, safe="/", quote_via=quote)
    return f"{base}?{query}" if query else base


@page
def artifacts_page(services, request: Request, ctx: RequestContext):
    run_id = request.path_params["run_id"]
    path = validate_artifact_path(request.query_params.get("path"))
    model_id = request.query_params.get("model") or ""
    run = services.tracking.get_run(ctx, run_id)
    experiment = services.tracking.get_experiment(ctx, run.info.experiment_id)
    run_q = quote(run_id, safe="")
    page_url = f"/runs/{run_q}/artifacts"

    models = []
    for output in run.outputs.model_outputs[:MAX_LOGGED_MODELS]:
        try:
            logged = services.tracking.get_logged_model(ctx, output.model_id)
        except ModelyardError:
            continue
        models.append(
            {"id": logged.model_id, "name": logged.name, "href": _link(page_url, model=logged.model_id)}
        )

    if model_id:
        if model_id not in {m["id"] for m in models}:
            raise ResourceDoesNotExist(f"Run {run_id!r} has no logged model {model_id!r}")
        logged = services.tracking.get_logged_model(ctx, model_id)
        root = artifact_root(services, ctx, logged.artifact_location)
        root_label = f"Model {logged.name}"

        def download(rel: str) -> str:
            return _link(
                f"/ajax-api/2.0/mlflow/logged-models/{quote(model_id, safe='')}/artifacts/files",
                artifact_file_path=rel,
            )
    else:
        root = artifact_root(services, ctx, run.info.artifact_uri)
        root_label = "Artifacts"

        def download(rel: str) -> str:
            return _link("/get-artifact", run_id=run_id, path=rel)

    def href(rel: str) -> str:
        return _link(page_url, model=model_id, path=rel)

    info = root.stat(path) if path else FileInfo("", True)
    if info is None:
        raise ResourceDoesNotExist(f"Artifact {path!r} does not exist")
    tree, more = _tree(root, path, href)
    preview = None
    folder_entries: list[Node] = []
    if info.is_dir:
        infos = _sorted(root.list(path))
        folder_entries = [
            Node(
                i.path.rsplit("/", 1)[-1],
                i.path,
                i.is_dir,
                "" if i.is_dir else human_size(i.file_size),
                href(i.path),
            )
            for i in infos[:LIST_LIMIT]
        ]
    else:
        preview = build_preview(root, info)

    run_label = run.info.run_name or run.info.run_id
    crumbs = [
        Crumb("Experiments", "/experiments"),
        Crumb(experiment.name, f"/experiments/{quote(experiment.experiment_id, safe='')}"),
        Crumb(run_label, f"/runs/{run_q}"),
        Crumb(root_label, href("") if path else None),
    ]
    segments = path.split("/") if path else []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        crumbs.append(Crumb(segment, None if last else href("/".join(segments[: index + 1]))))

    load_uri = None
    if preview is not None and preview.kind == "mlmodel":
        folder = posixpath.dirname(path)
        if model_id:
            load_uri = f"models:/{model_id}" + (f"/{folder}" if folder else "")
        else:
            load_uri = f"runs:/{run_id}/{folder}" if folder else f"runs:/{run_id}"
    return render(
        request,
        "artifacts.html",
        crumbs,
        section="experiments",
        run=run,
        run_label=run_label,
        run_href=f"/runs/{run_q}",
        root_label=root_label,
        root_href=href(""),
        models=models,
        model_id=model_id,
        path=path,
        name=path.rsplit("/", 1)[-1] if path else "",
        is_dir=info.is_dir,
        tree=tree,
        more=more,
        folder_entries=folder_entries,
        preview=preview,
        download_href=download(path) if path and not info.is_dir else None,
        load_uri=load_uri,
        human_size=human_size,
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/runs/{run_id}/artifacts", artifacts_page, needs=needs(RUN, READ, "run_id")),
        *download_routes(services),
    ]
