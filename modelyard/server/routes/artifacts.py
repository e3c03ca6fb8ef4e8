"""Run artifacts (metadata only): list what a run has logged.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run>/artifacts`` when this
server proxies artifacts; such URIs are resolved against the server's artifacts destination.
Any other URI is opened with the repository for its scheme. Every path goes through
``validate_artifact_path``, so no request can list outside the run's root.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.artifacts.base import join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities import FileInfo
from modelyard.exceptions import InvalidParameterValue
from modelyard.search.paging import decode_page_token, encode_page_token
from modelyard.server.protocol import RouteTable
from modelyard.server.routes.runs import RunScoped
from modelyard.server.services import PROXY_SCHEME, Services

table = RouteTable()

LIST_PAGE_SIZE = 10_000  # entries per answer; a folder with more is paged


class ListArtifacts(RunScoped):
    path: str | None = None
    page_token: str | None = None


def proxied_path(uri: str) -> str:
    """The path below the artifacts destination that a ``mlflow-artifacts:`` URI names."""
    path = urlsplit(uri).path.lstrip("/")
    return validate_artifact_path(path)


def list_run_artifacts(svc: Services, artifact_uri: str, path: str) -> list[FileInfo]:
    """The entries directly inside ``path`` of a run's artifacts, paths relative to the run's root."""
    if uri_scheme(artifact_uri) != PROXY_SCHEME:
        return get_artifact_repository(artifact_uri).list_artifacts(path)
    if not svc.artifacts_destination:
        raise InvalidParameterValue(
            f"The run's artifacts are at {artifact_uri}, but this server does not serve artifacts "
            "(start it with artifact serving on)."
        )
    root = proxied_path(artifact_uri)
    infos = svc.artifact_repository().list_artifacts(join_artifact_path(root, path))
    prefix = f"{root}/" if root else ""
    return [
        FileInfo(i.path[len(prefix) :], i.is_dir, i.file_size) for i in infos if i.path.startswith(prefix)
    ]


@table.get("/mlflow/artifacts/list", ListArtifacts)
def list_artifacts(svc: Services, m: ListArtifacts) -> dict:
    """List the files and folders directly inside a path of a run's artifacts."""
    return list_page(svc, svc.tracking.get_run(m.rid).info.artifact_uri, m.path, m.page_token)


def list_page(svc: Services, root_uri: str, path: str | None, page_token: str | None) -> dict:
    """One page of the entries inside ``path`` of the artifacts at ``root_uri`` (runs and logged models)."""
    path = validate_artifact_path(path)
    offset = _offset(page_token)
    files = list_run_artifacts(svc, root_uri, path)
    out: dict = {
        "root_uri": root_uri,
        "files": [f.to_dict() for f in files[offset : offset + LIST_PAGE_SIZE]],
    }
    if len(files) > offset + LIST_PAGE_SIZE:
        out["next_page_token"] = encode_page_token({"offset": offset + LIST_PAGE_SIZE})
    return out


def _offset(token: str | None) -> int:
    offset = decode_page_token(token).get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterValue("Invalid page token: bad offset")
    return offset
