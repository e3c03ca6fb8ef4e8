"""The artifact service: listing a run's or logged model's files, and the server's proxied store.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run>/artifacts`` when the server proxies
artifacts: such URIs are resolved against the server's artifacts destination (``destination``);
any other URI is opened with the repository for its scheme. Every path goes through
``validate_artifact_path``, so no request reaches outside the root it names. The REST routes, the
artifact proxy, the UI's browser and downloads all call this one service; so does the Python client
(``TrackingClient``), whose service has no destination but a ``tracking_uri``: there
``mlflow-artifacts:`` URIs go through that server's proxy, as MLflow's client does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.artifacts.base import TEMP_PREFIX, ArtifactRepository, join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.auth.context import RequestContext
from modelyard.entities import FileInfo
from modelyard.exceptions import InvalidParameterValue
from modelyard.search.paging import offset_token, page_offset
from modelyard.settings import Settings

PROXY_SCHEME = "mlflow-artifacts"
LIST_PAGE_SIZE = 10_000  # entries per answer; a folder with more is paged


def proxied_path(uri: str) -> str:
    """The path below the artifacts destination that a ``mlflow-artifacts:`` URI names."""
    return validate_artifact_path(urlsplit(uri).path.lstrip("/"))


class ArtifactService:
    def __init__(
        self, destination: str = "", settings: Settings | None = None, tracking_uri: str | None = None
    ) -> None:
        self.destination = destination  # root of the proxied store; "" when the server does not proxy
        self.settings = settings or Settings.defaults()
        self.tracking_uri = tracking_uri  # a client's: the server its mlflow-artifacts: URIs name
        self._repo: ArtifactRepository | None = None
        self._lock = threading.Lock()

    @property
    def serving(self) -> bool:
        return bool(self.destination)

    def repository(self) -> ArtifactRepository:
        """The repository behind ``mlflow-artifacts:/`` (built on first use, then shared)."""
        if not self.destination:
            raise InvalidParameterValue(
                "This server does not serve artifacts (start it with artifact serving on)."
            )
        with self._lock:
            if self._repo is None:
                self._repo = get_artifact_repository(self.destination, settings=self.settings)
            return self._repo

    # -- a run's or logged model's files -------------------------------------------------------
    def list_files(self, ctx: RequestContext, root_uri: str, path: str | None) -> list[FileInfo]:
        """The entries directly inside ``path`` of the artifacts at ``root_uri``, paths relative to it."""
        if uri_scheme(root_uri) != PROXY_SCHEME or not self.destination:
            return self._client_repository(root_uri).list_artifacts(path)
        root = proxied_path(root_uri)
        infos = self.repository().list_artifacts(join_artifact_path(root, path or ""))
        prefix = f"{root}/" if root else ""
        return [
            FileInfo(i.path[len(prefix) :], i.is_dir, i.file_size) for i in infos if i.path.startswith(prefix)
        ]

    def _client_repository(self, root_uri: str) -> ArtifactRepository:
        """The repository of ``root_uri`` opened by its scheme; ``mlflow-artifacts:`` only with a
        ``tracking_uri`` (a client's service), since a server without a destination has no files."""
        if uri_scheme(root_uri) == PROXY_SCHEME and not self.tracking_uri:
            raise InvalidParameterValue(
                f"The run's artifacts are at {root_uri}, but this server does not serve artifacts "
                "(start it with artifact serving on)."
            )
        return get_artifact_repository(root_uri, tracking_uri=self.tracking_uri, settings=self.settings)

    # -- a client's uploads and downloads ------------------------------------------------------
    def upload(self, ctx: RequestContext, root_uri: str, local_path: str, artifact_path: str | None) -> None:
        """A local file into ``artifact_path``; a folder as ``<artifact_path>/<its name>``."""
        if os.path.isdir(local_path):
            name = os.path.basename(os.path.normpath(local_path))
            self.upload_folder(ctx, root_uri, local_path, f"{artifact_path}/{name}" if artifact_path else name)
        else:
            self._client_repository(root_uri).log_artifact(local_path, artifact_path)

    def upload_folder(self, ctx: RequestContext, root_uri: str, local_dir: str, artifact_path: str | None) -> None:
        """The contents of a local folder into ``artifact_path``."""
        self._client_repository(root_uri).log_artifacts(local_dir, artifact_path)

    def download(self, ctx: RequestContext, root_uri: str, path: str, dst_path: str | None) -> str:
        """``path`` (a file or folder below ``root_uri``) copied to ``dst_path`` (a new temporary
        folder when None); the local path of the copy."""
        return self._client_repository(root_uri).download_artifacts(path, dst_path)

    def list_page(self, ctx: RequestContext, root_uri: str, path: str | None, page_token: str | None) -> dict:
        """One page (MLflow's JSON) of the entries inside ``path`` of the artifacts at ``root_uri``."""
        path = validate_artifact_path(path)
        query = ("artifacts", root_uri, path)
        offset = page_offset(page_token, query=query)
        files = self.list_files(ctx, root_uri, path)
        out: dict = {
            "root_uri": root_uri,
            "files": [f.to_dict() for f in files[offset : offset + LIST_PAGE_SIZE]],
        }
        if len(files) > offset + LIST_PAGE_SIZE:
            out["next_page_token"] = offset_token(offset + LIST_PAGE_SIZE, query=query)
        return out

    def root_repository(self, ctx: RequestContext, root_uri: str) -> tuple[ArtifactRepository, str]:
        """The repository holding the artifacts at ``root_uri`` and the root's path inside it."""
        if uri_scheme(root_uri) == PROXY_SCHEME and not self.tracking_uri:
            return self.repository(), proxied_path(root_uri)
        return self._client_repository(root_uri), ""

    def write_file(self, ctx: RequestContext, root_uri: str, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` below the artifacts at ``root_uri`` (a run's: the UI's upload, a
        client's ``log_text`` / ``log_dict``)."""
        path = validate_artifact_path(path)
        if not path or path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
            raise InvalidParameterValue(f"Invalid artifact file path {path!r}")
        repo, root = self.root_repository(ctx, root_uri)
        repo.write_bytes(join_artifact_path(root, path), data)

    # -- the proxied store (mlflow-artifacts:/) ------------------------------------------------
    def list_proxied(self, ctx: RequestContext, path: str | None) -> list[FileInfo]:
        return self.repository().list_artifacts(validate_artifact_path(path))

    def write(self, ctx: RequestContext, path: str, body: bytes | Iterator[bytes]) -> None:
        """Store ``body`` at ``path`` of the proxied store (atomically: a reader never sees half a file)."""
        if path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
            raise InvalidParameterValue(f"Artifact names may not start with {TEMP_PREFIX!r}")
        if isinstance(body, bytes):
            self.repository().write_bytes(path, body)
        else:
            self.repository().write_stream(path, body)

    def write_many(self, ctx: RequestContext, files: list[tuple[str, bytes]]) -> None:
        """Store several small files of the proxied store, ``(path, body)`` each, as ``write`` would."""
        for path, _body in files:
            if path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
                raise InvalidParameterValue(f"Artifact names may not start with {TEMP_PREFIX!r}")
        self.repository().write_files(files)

    def read_many(self, paths: list[str], limit: int | None = None) -> list[bytes]:
        """The contents of several small files of the proxied store (PayloadTooLarge past ``limit`` bytes)."""
        return self.repository().read_files(paths, limit)

    def delete(self, ctx: RequestContext, path: str) -> None:
        self.repository().delete_artifacts(path)

