"""Artifacts through a tracking server's artifact proxy (``mlflow-artifacts:`` and ``http(s)://`` URIs).

URI forms, all mapped onto ``<server>/api/2.0/mlflow-artifacts/artifacts/<path>``:

* ``mlflow-artifacts:/1/<run>/artifacts``: the server is the current tracking URI
  of the client context (``set_tracking_uri()``, else ``MODELYARD_TRACKING_URI`` / ``MLFLOW_TRACKING_URI``), which must
  then be ``http(s)://``;
* ``mlflow-artifacts://host:port/1/<run>/artifacts``: the server is ``host:port`` (with the
  tracking URI's scheme when it is https, else http);
* ``http(s)://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>``: the proxy URL itself.

One ``httpx.Client`` per server and process, so connections are reused across repositories
(the tracking client builds one per call). Uploads stream from the file and downloads stream
to disk, a megabyte at a time; a folder's files download in parallel. A refused connection fails
at once; timeouts and 429/503 answers are retried ``Settings.client.http_request_max_retries`` times
with exponential backoff (``modelyard.http_retry``). A server error becomes the matching class of
``modelyard.exceptions``.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import httpx
import orjson

from modelyard import __version__, http_retry
from modelyard.artifacts import client_defaults
from modelyard.artifacts.base import (
    ArtifactRepository,
    Bytes,
    _local_tree,
    join_artifact_path,
    write_file_atomically,
)
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities.common import FileInfo
from modelyard.exceptions import EndpointNotFound, InvalidParameterValue, ModelyardError, error_for_code
from modelyard.http_retry import RETRY_STATUSES
from modelyard.settings import Settings, connection_key

logger = logging.getLogger(__name__)
TAR = "application/x-tar"

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
SERVER_INFO = "/api/3.0/mlflow/server-info"
BATCH_PATH = "/api/2.0/modelyard/artifacts"  # modelyard.server.routes.artifact_batches
BATCH_FORMAT = 1
BATCH_FILE_MAX = 1024 * 1024  # files up to this size travel in batches; larger ones alone, streamed
BATCH_BYTES = 8 * 1024 * 1024  # one batch's files, at most
BATCH_FILES = 1000  # one batch's files, at most
CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
MAX_BACKOFF_S = 30.0
_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_CONFLICT",
    416: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_clients_lock = threading.Lock()
_clients: dict[tuple, httpx.Client] = {}
_batches_offered: dict[tuple, bool] = {}  # (pid, server, base path) -> does it take artifact batches


def shared_client(server: str, settings: Settings) -> httpx.Client:
    """The pooled client for ``server`` (``scheme://host:port``) in this process."""
    key = (os.getpid(), *connection_key(server, settings), settings.client.http_request_timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            headers = {"User-Agent": f"modelyard/{__version__}"}
            auth = None
            if settings.client.tracking_token:
                headers["Authorization"] = f"Bearer {settings.client.tracking_token}"
            elif settings.client.tracking_username is not None and settings.client.tracking_password is not None:
                auth = httpx.BasicAuth(settings.client.tracking_username, settings.client.tracking_password)
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
            timeout = httpx.Timeout(settings.client.http_request_timeout)
            client = httpx.Client(headers=headers, auth=auth, timeout=timeout, limits=limits)
            _clients[key] = client
        return client


@atexit.register
def close_clients() -> None:
    """Close every pooled client (at exit, and in tests; a forked child gets fresh ones anyway)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def split_proxy_uri(uri: str, tracking_uri: str | None) -> tuple[str, str, str]:
    """``(server, url_prefix, root)``: the server's origin, the path of its artifact proxy
    (including any prefix the server is mounted under), and the canonical root path below it."""
    parts = urlsplit(uri)
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise InvalidParameterValue(f"Invalid artifact URI {uri!r}: no query or fragment allowed")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        marker = parts.path.find(PROXY_PATH)
        tail = parts.path[marker + len(PROXY_PATH) :] if marker >= 0 else None
        if tail is None or (tail and not tail.startswith("/")) or not parts.netloc:
            raise InvalidParameterValue(
                f"Invalid artifact URI {uri!r}: an http(s) artifact URI must point into a tracking "
                f"server's artifact proxy ({PROXY_PATH}/...)"
            )
        prefix = parts.path[: marker + len(PROXY_PATH)]
        return f"{scheme}://{parts.netloc}", prefix, validate_artifact_path(tail.lstrip("/"))
    if scheme != "mlflow-artifacts":
        raise InvalidParameterValue(f"Invalid artifact URI {uri!r}: not an mlflow-artifacts or http(s) URI")
    tracking = urlsplit(tracking_uri or "")
    tracking_scheme = tracking.scheme.lower()
    root = validate_artifact_path(parts.path.lstrip("/"))
    if parts.netloc:
        return f"{'https' if tracking_scheme == 'https' else 'http'}://{parts.netloc}", PROXY_PATH, root
    if tracking_scheme not in ("http", "https") or not tracking.netloc:
        raise InvalidParameterValue(
            f"Artifact URI {uri!r} is served by the tracking server, but the tracking URI "
            f"{tracking_uri!r} is not a server: set it to http(s)://host:port"
        )
    base = tracking.path.rstrip("/")
    return f"{tracking_scheme}://{tracking.netloc}", base + PROXY_PATH, root


class HttpArtifactRepository(ArtifactRepository):
    """Artifacts below one path of a tracking server's artifact proxy."""

    download_workers = 8

    def __init__(
        self,
        artifact_uri: str,
        *,
        tracking_uri: str | None = None,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(artifact_uri)
        if settings is None or tracking_uri is None:  # the current client context's
            default_settings, default_uri = client_defaults()
            settings = settings or default_settings
            if tracking_uri is None and urlsplit(artifact_uri).scheme.lower() == "mlflow-artifacts":
                tracking_uri = default_uri
        self.server, self.url_prefix, self.root = split_proxy_uri(artifact_uri, tracking_uri)
        self.max_retries = max(0, int(settings.client.http_request_max_retries))
        self._client = client or shared_client(self.server, settings)
        self._sleep = sleep
        # modelyard's batches of small files: only below a proxy URL we can place, and when allowed
        base = self.url_prefix[: -len(PROXY_PATH)] if self.url_prefix.endswith(PROXY_PATH) else None
        self._batch_base = base if settings.client.fast_paths and self.root else None

    # -- HTTP ------------------------------------------------------------------------
    def _url(self, rel: str = "") -> str:
        path = join_artifact_path(self.root, rel)
        return f"{self.server}{self.url_prefix}/{quote(path, safe='/')}"

    def _request(self, method: str, url: str, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """One request, retried on timeouts and 429/503 (``http_retry``); raises on an error answer.

        ``content`` may be a callable returning a fresh body for each attempt. With
        ``stream=True`` the caller reads and closes the (successful) response.
        """
        make_content = kwargs.pop("content", None)
        attempt = 0
        while True:
            content = make_content() if callable(make_content) else make_content
            try:
                request = self._client.build_request(method, url, content=content, **kwargs)
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if http_retry.refused(exc):
                    raise http_retry.cannot_connect("artifact server", self.server, exc) from exc
                why, retry_after = str(exc) or type(exc).__name__, None
                if attempt >= self.max_retries:
                    raise http_retry.gave_up("artifact server", self.server, method, url, attempt + 1, why) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                    self._raise_for(response, method, url)
                why, retry_after = f"HTTP {response.status_code}", response.headers.get("retry-after")
                response.close()
            finally:
                if hasattr(content, "close"):
                    content.close()
            http_retry.wait_before_retry(
                self._sleep, "artifact server", method, url, why, attempt, self.max_retries, retry_after,
                factor=0.5, jitter=0.5, cap=MAX_BACKOFF_S,
            )
            attempt += 1

    @staticmethod
    def _raise_for(response: httpx.Response, method: str, url: str) -> None:
        try:
            response.read()
            data = response.json()
        except (ValueError, httpx.HTTPError):
            data = None
        finally:
            response.close()
        if isinstance(data, dict) and isinstance(data.get("error_code"), str):
            raise error_for_code(data["error_code"], str(data.get("message", "")))
        code = _CODE_BY_STATUS.get(response.status_code, "INTERNAL_ERROR")
        text = response.text[:300].strip()
        raise error_for_code(code, f"{method} {url} failed with HTTP {response.status_code}: {text}")

    # -- primitives ------------------------------------------------------------------
    def _list(self, rel: str) -> list[FileInfo]:
        path = join_artifact_path(self.root, rel)
        url = f"{self.server}{self.url_prefix}"
        data = self._request("GET", url, params={"path": path}).json()
        infos = []
        for entry in data.get("files") or []:
            name = str(entry.get("path", "")).rsplit("/", 1)[-1]
            is_dir = bool(entry.get("is_dir", False))
            size = None if is_dir else int(entry.get("file_size") or 0)
            infos.append(FileInfo(join_artifact_path(rel, name), is_dir, size))
        return infos

    def _stat(self, rel: str) -> FileInfo | None:
        if not rel:
            return FileInfo("", True)  # the proxy has no "stat"; a root always exists
        parent, _, name = rel.rpartition("/")
        return next((i for i in self._list(parent) if i.path == rel), None)

    def _open(self, rel: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # returned to the caller
        try:
            self._fetch(rel, spool)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool  # type: ignore[return-value]

    def _fetch(self, rel: str, out: BinaryIO) -> None:
        response = self._request("GET", self._url(rel), stream=True)
        try:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
        finally:
            response.close()

    def _download_file(self, rel: str, target: Path) -> None:
        response = self._request("GET", self._url(rel), stream=True)
        try:
            write_file_atomically(target, response.iter_bytes(CHUNK))
        finally:
            response.close()

    def _put_file(self, local_file: Path, rel: str) -> None:
        headers = {"Content-Type": "application/octet-stream"}  # the length comes from the file
        self._request("PUT", self._url(rel), content=lambda: open(local_file, "rb"), headers=headers)

    def _put_bytes(self, rel: str, data: Bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        self._request("PUT", self._url(rel), content=bytes(data), headers=headers)

    def _delete(self, rel: str) -> None:
        self._request("DELETE", self._url(rel))

    # -- modelyard's batches of small files ------------------------------------------
    def _batches(self) -> bool:
        """Whether this server takes batches of small files (``server-info`` offers
        ``artifact_batches``); asked once per server and process. Any other server (MLflow's):
        one request per file, as the proxy's protocol has it."""
        if self._batch_base is None:
            return False
        key = (os.getpid(), self.server, self._batch_base)
        offered = _batches_offered.get(key)
        if offered is None:
            try:
                response = self._client.get(f"{self.server}{self._batch_base}{SERVER_INFO}")
            except httpx.TransportError:
                return False  # not cached: asked again next time
            if response.status_code in RETRY_STATUSES:
                return False
            try:
                info = response.json() if response.status_code == 200 else None
            except ValueError:
                info = None
            paths = info.get("modelyard_fast_paths") if isinstance(info, dict) else None
            offered = isinstance(paths, dict) and paths.get("artifact_batches") == BATCH_FORMAT
            _batches_offered[key] = offered
        return offered

    def _batch_url(self, kind: str) -> str:
        return f"{self.server}{self._batch_base}{BATCH_PATH}/{kind}/{quote(self.root, safe='/')}"

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """As every repository's, but the small files go in batches where the server takes them."""
        if not self._batches():
            return super().log_artifacts(local_dir, artifact_path)
        folder = validate_artifact_path(artifact_path)
        src = Path(local_dir)
        if not src.is_dir():
            return super().log_artifacts(local_dir, artifact_path)  # its error
        _dirs, files = _local_tree(src)
        dests = [(f, validate_artifact_path(join_artifact_path(folder, rel))) for f, rel in files]
        small, large = [], []
        for local_file, dest in dests:
            (small if local_file.stat().st_size <= BATCH_FILE_MAX else large).append((local_file, dest))
        for batch in _batched(small, lambda item: item[0].stat().st_size):
            if not self._put_batch(batch):  # the server has no batch route after all
                large = batch + large
        for local_file, dest in large:
            self._put_file(local_file, dest)

    def _put_batch(self, batch: list[tuple[Path, str]]) -> bool:
        """One tar of ``(local file, dest)``; False (nothing stored) if the server lacks the route."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as archive:
            for local_file, dest in batch:
                data = local_file.read_bytes()
                info = tarfile.TarInfo(dest)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        body = out.getvalue()
        try:
            self._request("PUT", self._batch_url("batch"), content=body, headers={"Content-Type": TAR})
        except EndpointNotFound:
            _batches_offered[(os.getpid(), self.server, self._batch_base)] = False
            return False
        return True

    def _download_files(self, jobs: list[tuple[str, Path]], sizes: dict[str, int | None] | None = None) -> None:
        """As every repository's, but the small files come in batches where the server gives them."""
        if not sizes or not self._batches():
            return super()._download_files(jobs, sizes)
        small, large = [], []
        for job in jobs:
            size = sizes.get(job[0])
            (small if size is not None and size <= BATCH_FILE_MAX else large).append(job)
        for batch in _batched(small, lambda job: sizes[job[0]] or 0):
            if not self._get_batch(batch):
                large = batch + large
        super()._download_files(large, sizes)

    def _get_batch(self, batch: list[tuple[str, Path]]) -> bool:
        """Fetch one batch of ``(rel, target)`` as a tar; False if the server lacks the route."""
        targets = dict(batch)
        try:
            response = self._request(
                "POST",
                self._batch_url("batch-get"),
                content=orjson.dumps({"files": list(targets)}),
                headers={"Content-Type": "application/json"},
            )
        except EndpointNotFound:
            _batches_offered[(os.getpid(), self.server, self._batch_base)] = False
            return False
        got = set()
        try:
            with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:") as archive:
                for member in archive:
                    target = targets.get(member.name)
                    if target is None or not member.isreg() or member.name in got:
                        raise ModelyardError(f"The artifact batch from {self.server} holds {member.name!r}, not asked for")
                    source = archive.extractfile(member)
                    write_file_atomically(target, source.read() if source is not None else b"")
                    got.add(member.name)
        except tarfile.TarError as exc:
            raise ModelyardError(f"The artifact batch from {self.server} is not a tar archive: {exc}") from None
        if len(got) != len(targets):
            missing = sorted(set(targets) - got)[:3]
            raise ModelyardError(f"The artifact batch from {self.server} lacks {missing}")
        return True


def _batched(items: list, size_of: Callable[[Any], int]) -> Iterator[list]:
    """``items`` in consecutive groups of at most BATCH_FILES items and BATCH_BYTES bytes."""
    group: list = []
    total = 0
    for item in items:
        size = size_of(item) + 1024  # a tar header and padding, roughly
        if group and (len(group) >= BATCH_FILES or total + size > BATCH_BYTES):
            yield group
            group, total = [], 0
        group.append(item)
        total += size
    if group:
        yield group
