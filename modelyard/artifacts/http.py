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
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import httpx

from modelyard import __version__, http_retry
from modelyard.artifacts import client_defaults
from modelyard.artifacts.base import ArtifactRepository, Bytes, join_artifact_path, write_file_atomically
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities.common import FileInfo
from modelyard.exceptions import InvalidParameterValue, error_for_code
from modelyard.http_retry import RETRY_STATUSES
from modelyard.settings import Settings, connection_key

logger = logging.getLogger(__name__)

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
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
