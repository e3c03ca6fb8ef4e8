"""Artifact downloads as HTTP answers: single byte ranges, ETag / If-None-Match / If-Range, HEAD,
small files in one read, larger ones streamed (never held in memory), always an attachment, with a
content type from an allow-list (``content_type``).

Shared by the artifact proxy (``routes/proxy.py``) and the UI's MLflow-style download routes
(``ui/artifact_files.py``).
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
import posixpath
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, BinaryIO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from modelyard.artifacts.base import ArtifactRepository
from modelyard.exceptions import InvalidParameterValue
from modelyard.web.errors import json_error

READ_CHUNK = 4 * 1024 * 1024  # a streamed download reads (and sends) this much per hand-off to a thread
SMALL_DOWNLOAD = 256 * 1024  # files up to this size are read at once and answered without streaming
# ... and up to this size, from a repository of local files, opened and read on the event loop (as the
# proxy writes small uploads there): cheaper than the two thread wake-ups of a hand-off
INLINE_READ = 64 * 1024
OCTET_STREAM = "application/octet-stream"
SANDBOX_CSP = "default-src 'none'; sandbox"
_RANGE_RE = re.compile(r"\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
JSON_EXTENSIONS = {".json"}
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


def content_type(name: str) -> str:
    """A content type from an allow-list: images as themselves (SVG too: the download's sandbox and
    nosniff keep its scripts inert), JSON as JSON, every other text (HTML and scripts included) as
    ``text/plain``, anything else ``application/octet-stream``. Downloads stay attachments."""
    base = name.rsplit("/", 1)[-1]
    ext = posixpath.splitext(base)[1].lower()
    if ext in IMAGE_TYPES:
        return IMAGE_TYPES[ext]
    if ext in JSON_EXTENSIONS:
        return "application/json"
    if ext == ".pdf":
        return "application/pdf"
    if ext in TEXT_EXTENSIONS or base in TEXT_NAMES:
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(base)
    if guessed and guessed.startswith("text/"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


class RangeNotSatisfiable(Exception):
    """A ``Range`` header that is malformed or lies past the end of the file (answered 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte of a single-range ``Range`` header, or None for the
    whole file (no header, another unit, or several ranges, which a server may ignore).

    Raises RangeNotSatisfiable for a malformed or unsatisfiable byte range.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE_RE.fullmatch(spec)
    if match is None or not (match[1] or match[2]):
        raise RangeNotSatisfiable
    if match[1]:
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if last < first or first >= size:
            raise RangeNotSatisfiable
        return first, min(last, size - 1)
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable
    return max(size - suffix, 0), size - 1


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in name) or "artifact"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


Runner = Callable[..., Awaitable[Any]]


def _runner(request: Request) -> Runner:
    """How the file calls reach a thread: the server's own handler threads (``Offload.run``, about
    half the cost of a hand-off through anyio's pool) when the app has them, else anyio's pool."""
    app = request.scope.get("app")
    offload = getattr(getattr(getattr(app, "state", None), "services", None), "offload", None)
    return offload.run if offload is not None else run_in_threadpool


class _Opened:
    """An artifact opened for download, with what its headers need."""

    def __init__(self, file: BinaryIO, size: int, etag: str | None, modified: float | None) -> None:
        self.file, self.size, self.etag, self.modified = file, size, etag, modified
        self.data: bytes | None = None  # the whole content of a small file, read at once


def _open(repo: ArtifactRepository, rel: str, read_up_to: int = SMALL_DOWNLOAD) -> _Opened:
    """The file opened, its size and validators known; read whole when at most ``read_up_to`` bytes."""
    f = repo.open(rel)
    try:
        try:
            st = os.fstat(f.fileno())
        except (AttributeError, OSError, ValueError):
            st = None
        if st is not None:
            etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
            opened = _Opened(f, st.st_size, etag, st.st_mtime)
            if st.st_size <= read_up_to:  # read in the same call, answered without streaming
                _read_whole(opened)
            return opened
        if f.seekable():
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
        else:
            info = repo.file_info(rel)
            size = info.file_size if info and info.file_size is not None else 0
        return _Opened(f, size, None, None)
    except BaseException:
        f.close()
        raise


def _read_whole(opened: _Opened) -> None:
    data = opened.file.read(opened.size + 1)
    if len(data) == opened.size:  # else it changed meanwhile: stream what is there
        opened.data = data
    opened.file.seek(0)


async def _open_for(repo: ArtifactRepository, rel: str, run: Runner) -> _Opened:
    """``_open`` on a thread; for a repository of local files, on the event loop (open and fstat),
    with only a read of more than ``INLINE_READ`` bytes handed to a thread."""
    if not getattr(repo, "local_files", False):
        return await run(_open, repo, rel)
    opened = _open(repo, rel, min(INLINE_READ, SMALL_DOWNLOAD))
    if opened.data is None and opened.etag is not None and opened.size <= SMALL_DOWNLOAD:
        try:
            await run(_read_whole, opened)
        except BaseException:
            opened.file.close()
            raise
    return opened


def _skip(f: BinaryIO, count: int) -> None:
    if f.seekable():
        f.seek(count)
        return
    while count > 0:
        data = f.read(min(READ_CHUNK, count))
        if not data:
            return
        count -= len(data)


async def _stream(
    f: BinaryIO, first: int, length: int, run: Runner = run_in_threadpool
) -> AsyncIterator[bytes]:
    try:
        if first:
            await run(_skip, f, first)
        remaining = length
        while remaining > 0:
            chunk = await run(f.read, min(READ_CHUNK, remaining))
            if not chunk:
                return  # the file shrank meanwhile; the client sees a short body
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


async def file_response(
    request: Request,
    repo: ArtifactRepository,
    path: str,
    filename: str,
    media_type: str = OCTET_STREAM,
    csp: str = SANDBOX_CSP,
    headers: dict[str, str] | None = None,
) -> Response:
    """The file at ``path`` of ``repo`` as an attachment named ``filename`` (GET or HEAD)."""
    run = _runner(request)
    opened = await _open_for(repo, path, run)
    out = {
        "content-disposition": content_disposition(filename),
        "content-security-policy": csp,
        "accept-ranges": "bytes",
        **(headers or {}),
    }
    if opened.etag:
        out["etag"] = opened.etag
    if opened.modified is not None:
        out["last-modified"] = email.utils.formatdate(opened.modified, usegmt=True)
    try:
        if opened.etag and request.headers.get("if-none-match") == opened.etag:
            opened.file.close()
            return Response(status_code=304, headers=out)
        if_range = request.headers.get("if-range")
        stale = if_range is not None and if_range != opened.etag  # the client's copy is stale: whole file
        span = None if stale else parse_range(request.headers.get("range"), opened.size)
    except RangeNotSatisfiable:
        opened.file.close()
        out["content-range"] = f"bytes */{opened.size}"
        message = f"Range {request.headers.get('range', '')[:100]!r} is not satisfiable"
        return json_error(InvalidParameterValue(message), status=416, headers=out)
    first, last = span if span else (0, opened.size - 1)
    length = max(last - first + 1, 0)
    out["content-length"] = str(length)
    status = 206 if span else 200
    if span:
        out["content-range"] = f"bytes {first}-{last}/{opened.size}"
    if request.method == "HEAD":
        opened.file.close()
        return Response(status_code=status, headers=out, media_type=media_type)
    if opened.data is not None:
        opened.file.close()
        return Response(opened.data[first : last + 1], status, out, media_type=media_type)
    return StreamingResponse(_stream(opened.file, first, length, run), status, out, media_type=media_type)
