"""Artifact browser (``/runs/{run_id}/artifacts?path=``) and MLflow's UI download routes.

The page shows a folder tree (the folders on the way to the selected path expanded) and a
preview of the selected file, rendered on the server: text and source (first ``PREVIEW_BYTES``),
JSON (pretty printed), YAML, images (as an ``<img>`` whose source is the download route),
CSV/TSV as a table (first ``TABLE_ROWS`` rows) and MLmodel files (flavors, signature, input
example). ``?model=<model_id>`` browses one of the run's logged models (MLflow 3 keeps their
files outside the run's folder) in the same way.

Download routes, with MLflow's paths and parameters so MLflow-UI-era tools keep working:

* ``GET /get-artifact?run_id=&path=`` (``run_uuid`` accepted too)
* ``GET /model-versions/get-artifact?name=&version=&path=``
* ``GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=``

Answers stream the file as an attachment with a sandboxing CSP (an HTML or SVG artifact can
never run script in the server's origin; ``nosniff`` comes from the security middleware), a
content type from a short allow-list (images, text as ``text/plain``, the rest octet-stream),
and single byte ranges. Errors are MLflow's JSON error body.

Every path goes through :func:`~modelyard.artifacts.paths.validate_artifact_path` (traversal in
any encoding is a 400) and is opened by the repository, which keeps it below its root (the local
one after resolving symlinks).
"""

from __future__ import annotations

import csv
import email.utils
import io
import json
import mimetypes
import posixpath
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.artifacts.base import ArtifactRepository, join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities import FileInfo
from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceDoesNotExist
from modelyard.server import protocol
from modelyard.server.routes.artifacts import proxied_path
from modelyard.server.routes.proxy import (
    RangeNotSatisfiable,
    _open,
    _stream,
    content_disposition,
    parse_range,
)
from modelyard.server.services import PROXY_SCHEME
from modelyard.ui.templating import Crumb, bind, page, render

PREVIEW_BYTES = 1024 * 1024  # text shown in a preview; longer files are cut with a notice
TABLE_ROWS = 200  # CSV/TSV rows shown
TABLE_COLUMNS = 100
CELL_CHARS = 1000
LIST_LIMIT = 1000  # entries shown per folder
IMAGE_INLINE_BYTES = 50 * 1024 * 1024  # larger images are offered as a download only
INPUT_EXAMPLE_BYTES = 256 * 1024
MAX_LOGGED_MODELS = 50
SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
TABLE_EXTENSIONS = {".csv": ",", ".tsv": "\t"}
JSON_EXTENSIONS = {".json"}
YAML_EXTENSIONS = {".yaml", ".yml"}
TEXT_EXTENSIONS = {
    ".txt",
    ".log",
    ".md",
    ".rst",
    ".py",
    ".r",
    ".sh",
    ".bash",
    ".cfg",
    ".ini",
    ".toml",
    ".conf",
    ".properties",
    ".env",
    ".java",
    ".scala",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".go",
    ".rs",
    ".js",
    ".ts",
    ".css",
    ".html",
    ".htm",
    ".xml",
    ".sql",
    ".jsonl",
    ".ndjson",
    ".ipynb",
    ".tex",
    ".diff",
    ".patch",
    ".csv",
    ".tsv",
    ".json",
    ".yaml",
    ".yml",
    ".pbtxt",
    ".prototxt",
    ".lock",
    ".gitignore",
}
TEXT_NAMES = {"MLmodel", "MLproject", "Dockerfile", "LICENSE", "README", "Makefile", "requirements"}


# -- where artifacts live -----------------------------------------------------------------------
@dataclass
class ArtifactRoot:
    """A run's (or logged model's, or model version's) artifacts: a repository and the prefix below its root."""

    repo: ArtifactRepository
    prefix: str = ""

    def full(self, rel: str) -> str:
        return join_artifact_path(self.prefix, validate_artifact_path(rel))

    def stat(self, rel: str) -> FileInfo | None:
        info = self.repo.file_info(self.full(rel))
        return None if info is None else FileInfo(self._rel(info.path), info.is_dir, info.file_size)

    def list(self, rel: str) -> list[FileInfo]:
        out = []
        for info in self.repo.list_artifacts(self.full(rel)):
            child = self._rel(info.path)
            if child is not None:
                out.append(FileInfo(child, info.is_dir, info.file_size))
        return out

    def open(self, rel: str) -> BinaryIO:
        return self.repo.open(self.full(rel))

    def _rel(self, path: str) -> str | None:
        if not self.prefix:
            return path
        if path == self.prefix:
            return ""
        if path.startswith(self.prefix + "/"):
            return path[len(self.prefix) + 1 :]
        return None


def artifact_root(services, uri: str) -> ArtifactRoot:
    """The artifacts at ``uri``: ``mlflow-artifacts:/`` through the server's destination, others directly."""
    scheme = uri_scheme(uri)
    if scheme == PROXY_SCHEME:
        if not services.artifacts_destination:
            raise InvalidParameterValue(
                f"The artifacts are at {uri}, but this server does not serve artifacts "
                "(start it with artifact serving on)."
            )
        return ArtifactRoot(services.artifact_repository(), proxied_path(uri))
    if scheme == "runs":  # runs:/<run_id>/<path> (a model version's source)
        run_id, _, sub = uri[len("runs:/") :].lstrip("/").partition("/")
        inner = artifact_root(services, services.tracking.get_run(run_id).info.artifact_uri)
        return ArtifactRoot(inner.repo, join_artifact_path(inner.prefix, validate_artifact_path(sub)))
    if scheme == "models" and uri[len("models:/") :].lstrip("/").startswith("m-"):  # a logged model
        model_id = uri[len("models:/") :].strip("/")
        return artifact_root(services, services.tracking.get_logged_model(model_id).artifact_location)
    return ArtifactRoot(get_artifact_repository(uri))


# -- downloads (MLflow's /get-artifact routes) ---------------------------------------------------
def content_type(name: str) -> str:
    """A content type from an allow-list: images as themselves, text as text/plain, else octet-stream."""
    base = name.rsplit("/", 1)[-1]
    ext = posixpath.splitext(base)[1].lower()
    if ext in IMAGE_TYPES:
        return IMAGE_TYPES[ext]
    if ext == ".pdf":
        return "application/pdf"
    if ext in TEXT_EXTENSIONS or base in TEXT_NAMES:
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(base)
    if guessed and guessed.startswith("text/"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _json_error(exc: ModelyardError) -> Response:
    return Response(
        protocol.encode(protocol.error_payload(exc)), exc.http_status, media_type="application/json"
    )


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise InvalidParameterValue(f"Missing value for required parameter '{name}'.")
    return value


def _file_rel(path: str) -> str:
    rel = validate_artifact_path(path)
    if not rel:
        raise InvalidParameterValue("An artifact file path is required, not the root folder")
    return rel


async def send_artifact(request: Request, root: ArtifactRoot, rel: str) -> Response:
    """Stream one artifact file as an attachment (single byte ranges, ETag when the store has one)."""
    opened = await run_in_threadpool(_open, root.repo, root.full(rel))
    headers = {
        "content-disposition": content_disposition(rel.rsplit("/", 1)[-1]),
        "content-security-policy": SANDBOX_CSP,
        "accept-ranges": "bytes",
        "cache-control": "private, no-cache",
    }
    if opened.etag:
        headers["etag"] = opened.etag
    if opened.modified is not None:
        headers["last-modified"] = email.utils.formatdate(opened.modified, usegmt=True)
    media_type = content_type(rel)
    try:
        if opened.etag and request.headers.get("if-none-match") == opened.etag:
            opened.file.close()
            return Response(status_code=304, headers=headers)
        if_range = request.headers.get("if-range")
        stale = if_range is not None and if_range != opened.etag
        span = None if stale else parse_range(request.headers.get("range"), opened.size)
    except RangeNotSatisfiable:
        opened.file.close()
        headers["content-range"] = f"bytes */{opened.size}"
        message = f"Range {request.headers.get('range', '')[:100]!r} is not satisfiable"
        return Response(
            protocol.encode(protocol.error_payload(InvalidParameterValue(message))),
            416,
            headers,
            media_type="application/json",
        )
    first, last = span if span else (0, opened.size - 1)
    length = max(last - first + 1, 0)
    headers["content-length"] = str(length)
    status = 206 if span else 200
    if span:
        headers["content-range"] = f"bytes {first}-{last}/{opened.size}"
    if request.method == "HEAD":
        opened.file.close()
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(_stream(opened.file, first, length), status, headers, media_type=media_type)


def download_routes(services) -> list[BaseRoute]:
    async def run_artifact(request: Request) -> Response:
        try:
            run_id = request.query_params.get("run_id") or _required(request, "run_uuid")
            rel = _file_rel(_required(request, "path"))
            root = await run_in_threadpool(
                lambda: artifact_root(services, services.tracking.get_run(run_id).info.artifact_uri)
            )
            return await send_artifact(request, root, rel)
        except ModelyardError as exc:
            return _json_error(exc)

    async def model_version_artifact(request: Request) -> Response:
        try:
            name, version = _required(request, "name"), _required(request, "version")
            rel = _file_rel(_required(request, "path"))

            def resolve() -> ArtifactRoot:
                if services.registry is None:
                    raise ResourceDoesNotExist("This server has no model registry")
                return artifact_root(
                    services, services.registry.get_model_version_download_uri(name, version)
                )

            return await send_artifact(request, await run_in_threadpool(resolve), rel)
        except ModelyardError as exc:
            return _json_error(exc)

    async def logged_model_artifact(request: Request) -> Response:
        try:
            model_id = request.path_params["model_id"]
            rel = _file_rel(_required(request, "artifact_file_path"))
            root = await run_in_threadpool(
                lambda: artifact_root(
                    services, services.tracking.get_logged_model(model_id).artifact_location
                )
            )
            return await send_artifact(request, root, rel)
        except ModelyardError as exc:
            return _json_error(exc)

    methods = ["GET", "HEAD"]
    return [
        Route("/get-artifact", run_artifact, methods=methods),
        Route("/model-versions/get-artifact", model_version_artifact, methods=methods),
        Route(
            "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
            logged_model_artifact,
            methods=methods,
        ),
    ]


# -- previews ----------------------------------------------------------------------------------
def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def preview_kind(name: str) -> str:
    """What a file's name says about how to show it: mlmodel, image, table, json, yaml, text or unknown."""
    base = name.rsplit("/", 1)[-1]
    ext = posixpath.splitext(base)[1].lower()
    if base == "MLmodel":
        return "mlmodel"
    if ext in IMAGE_TYPES:
        return "image"
    if ext in TABLE_EXTENSIONS:
        return "table"
    if ext in JSON_EXTENSIONS:
        return "json"
    if ext in YAML_EXTENSIONS or base == "MLproject":
        return "yaml"
    if ext in TEXT_EXTENSIONS or base in TEXT_NAMES:
        return "text"
    return "unknown"


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end is fine
    return False


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


@dataclass
class Preview:
    kind: str  # text, json, yaml, image, table, mlmodel, binary, too_large, folder
    size: int | None = None
    text: str = ""
    truncated: bool = False
    notice: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more_rows: bool = False
    mlmodel: dict[str, Any] | None = None


def _read_capped(root: ArtifactRoot, rel: str, cap: int) -> tuple[bytes, bool]:
    with root.open(rel) as f:
        data = f.read(cap + 1)
    return data[:cap], len(data) > cap


def _table(text: str, delimiter: str, truncated: bool) -> tuple[list[str], list[list[str]], bool]:
    if truncated and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    rows: list[list[str]] = []
    more = False
    for index, row in enumerate(reader):
        row = [cell[:CELL_CHARS] for cell in row[:TABLE_COLUMNS]]
        if index == 0:
            header = row
        elif len(rows) < TABLE_ROWS:
            rows.append(row)
        else:
            more = True
            break
    width = max([len(header)] + [len(r) for r in rows]) if (header or rows) else 0
    header += [""] * (width - len(header))
    rows = [r + [""] * (width - len(r)) for r in rows]
    return header, rows, more or truncated


def build_preview(root: ArtifactRoot, info: FileInfo) -> Preview:
    """The preview of one file (read at most ``PREVIEW_BYTES``)."""
    kind = preview_kind(info.path)
    size = info.file_size
    if kind == "image":
        if size is not None and size > IMAGE_INLINE_BYTES:
            return Preview(
                "too_large", size, notice=f"This image is {human_size(size)}; download it to view it."
            )
        return Preview("image", size)
    data, truncated = _read_capped(root, info.path, PREVIEW_BYTES)
    if kind == "unknown":
        kind = "binary" if _looks_binary(data) else "text"
    if kind == "binary":
        return Preview("binary", size)
    text = _decode(data)
    notice = f"Showing the first {human_size(PREVIEW_BYTES)} of {human_size(size)}." if truncated else ""
    preview = Preview(kind, size, text=text, truncated=truncated, notice=notice)
    if kind == "json" and not truncated:
        try:
            preview.text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            preview.notice = "This file is not valid JSON; shown as text."
    elif kind == "table":
        try:
            preview.header, preview.rows, preview.more_rows = _table(
                text, TABLE_EXTENSIONS[_ext(info.path)], truncated
            )
        except csv.Error as exc:
            preview.kind = "text"
            preview.notice = f"Could not read this file as a table ({exc}); shown as text."
        else:
            if preview.more_rows:
                preview.notice = f"Showing the first {len(preview.rows)} rows."
    elif kind == "mlmodel" and not truncated:
        preview.mlmodel = mlmodel_summary(root, info.path, text)
        if preview.mlmodel is None:
            preview.kind = "yaml"
            preview.notice = "This MLmodel file could not be read; shown as text."
    elif kind == "mlmodel":
        preview.kind = "yaml"
    return preview


def _ext(path: str) -> str:
    return posixpath.splitext(path.rsplit("/", 1)[-1])[1].lower()


# -- MLmodel -----------------------------------------------------------------------------------
def _yaml_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _schema(value: Any) -> list[dict[str, str]] | None:
    """A signature's inputs/outputs/params (a JSON string in MLmodel) as table rows."""
    if value in (None, ""):
        return None
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [{"name": "", "type": str(value), "required": "", "shape": ""}]
    if not isinstance(items, list):
        return None
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type", ""))
        shape = ""
        if kind == "tensor":
            spec = item.get("tensor-spec") or {}
            kind = f"tensor ({spec.get('dtype', '')})"
            shape = json.dumps(spec.get("shape"))
        elif item.get("shape") is not None:
            shape = json.dumps(item.get("shape"))
        for extra in ("items", "properties", "values"):
            if extra in item:
                kind += " " + json.dumps(item[extra])[:200]
        required = item.get("required")
        rows.append(
            {
                "name": str(item.get("name", "")),
                "type": kind,
                "required": "" if required is None else ("yes" if required else "no"),
                "shape": shape,
                "default": "" if item.get("default") is None else json.dumps(item.get("default")),
            }
        )
    return rows


def _flavor_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def mlmodel_summary(root: ArtifactRoot, path: str, text: str) -> dict[str, Any] | None:
    """Flavors, signature tables and the input example of an MLmodel file; None if it is not YAML."""
    try:
        doc = _yaml_load(text)
    except Exception:  # noqa: BLE001 - any YAML error: shown as text instead
        return None
    if not isinstance(doc, dict):
        return None
    flavors = doc.get("flavors") if isinstance(doc.get("flavors"), dict) else {}
    signature = doc.get("signature") if isinstance(doc.get("signature"), dict) else {}
    folder = posixpath.dirname(path)
    summary: dict[str, Any] = {
        "info": [
            (label, _flavor_value(doc[key]))
            for key, label in (
                ("model_id", "Model ID"),
                ("run_id", "Run ID"),
                ("artifact_path", "Artifact path"),
                ("utc_time_created", "Created (UTC)"),
                ("mlflow_version", "MLflow version"),
                ("model_size_bytes", "Size (bytes)"),
            )
            if doc.get(key) not in (None, "")
        ],
        "flavors": [
            (name, [(k, _flavor_value(v)) for k, v in conf.items()] if isinstance(conf, dict) else [])
            for name, conf in flavors.items()
        ],
        "inputs": _schema(signature.get("inputs")),
        "outputs": _schema(signature.get("outputs")),
        "params": _schema(signature.get("params")),
        "example": None,
        "folder": folder,
    }
    info = doc.get("saved_input_example_info")
    if isinstance(info, dict) and isinstance(info.get("artifact_path"), str):
        summary["example"] = _input_example(root, join_artifact_path(folder, info["artifact_path"]))
    return summary


def _input_example(root: ArtifactRoot, rel: str) -> dict[str, Any] | None:
    try:
        data, truncated = _read_capped(root, rel, INPUT_EXAMPLE_BYTES)
    except ModelyardError:
        return None
    text = _decode(data)
    example: dict[str, Any] = {
        "path": rel,
        "truncated": truncated,
        "text": text,
        "columns": None,
        "rows": None,
    }
    if truncated:
        return example
    try:
        value = json.loads(text)
    except ValueError:
        return example
    example["text"] = json.dumps(value, indent=2, ensure_ascii=False)
    if (
        isinstance(value, dict)
        and isinstance(value.get("columns"), list)
        and isinstance(value.get("data"), list)
    ):
        example["columns"] = [str(c) for c in value["columns"]]
        example["rows"] = [
            [_flavor_value(c) for c in row] if isinstance(row, list) else [_flavor_value(row)]
            for row in value["data"][:TABLE_ROWS]
        ]
    return example


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
def artifacts_page(services, request: Request):
    run_id = request.path_params["run_id"]
    path = validate_artifact_path(request.query_params.get("path"))
    model_id = request.query_params.get("model") or ""
    run = services.tracking.get_run(run_id)
    experiment = services.tracking.get_experiment(run.info.experiment_id)
    run_q = quote(run_id, safe="")
    page_url = f"/runs/{run_q}/artifacts"

    models = []
    for output in run.outputs.model_outputs[:MAX_LOGGED_MODELS]:
        try:
            logged = services.tracking.get_logged_model(output.model_id)
        except ModelyardError:
            continue
        models.append(
            {"id": logged.model_id, "name": logged.name, "href": _link(page_url, model=logged.model_id)}
        )

    if model_id:
        if model_id not in {m["id"] for m in models}:
            raise ResourceDoesNotExist(f"Run {run_id!r} has no logged model {model_id!r}")
        logged = services.tracking.get_logged_model(model_id)
        root = artifact_root(services, logged.artifact_location)
        root_label = f"Model {logged.name}"

        def download(rel: str) -> str:
            return _link(
                f"/ajax-api/2.0/mlflow/logged-models/{quote(model_id, safe='')}/artifacts/files",
                artifact_file_path=rel,
            )
    else:
        root = artifact_root(services, run.info.artifact_uri)
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
        Route("/runs/{run_id}/artifacts", bind(services, artifacts_page), methods=["GET"]),
        *download_routes(services),
    ]
