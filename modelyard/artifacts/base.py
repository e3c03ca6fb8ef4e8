"""The artifact-repository protocol: what every artifact store (local, S3, HTTP proxy, ...) offers.

The public methods here validate every path argument with
:func:`~modelyard.artifacts.paths.validate_artifact_path` and then call a handful of
small primitives (``_stat``, ``_list``, ``_open``, ``_put_file``, ``_put_bytes``,
``_delete``, ``_make_dir``, and the optional ``_put_stream`` and ``_download_file``)
that receive only canonical relative paths. An implementation therefore cannot forget
the traversal checks, and features such as recursive upload and download are written
once, above the primitives. A repository that talks to a remote store sets
``download_workers`` above 1 to fetch the files of a folder in parallel.

Paths are relative POSIX paths below the repository root ("" is the root). Listings
follow MLflow: one level at a time, each ``FileInfo.path`` relative to the root
(listing ``"sub"`` gives ``"sub/a.txt"``), sorted by path, with ``file_size`` set for
files only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import stat
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities.common import FileInfo
from modelyard.exceptions import InvalidParameterValue, PayloadTooLarge, ResourceDoesNotExist

logger = logging.getLogger(__name__)

TEMP_PREFIX = ".modelyard-tmp-"
"""Name prefix of the temporary files that atomic writes rename into place."""

COPY_CHUNK = 1024 * 1024

Bytes = bytes | bytearray | memoryview


def join_artifact_path(*parts: str) -> str:
    """Join canonical artifact paths, skipping empty ones (the root)."""
    return "/".join(p for p in parts if p)


def write_file_atomically(dest: Path, source: Bytes | BinaryIO | Iterable[Bytes]) -> None:
    """Write ``source`` (bytes, a readable binary file, or an iterable of byte chunks) to ``dest``.

    The data goes to a fresh, unpredictable temporary file in ``dest``'s folder, which
    is then renamed over ``dest`` (``os.replace``): readers see the old file or the
    new one, never a partial one, and a failing write leaves the old content in place.
    The folder must exist. Not fsync'ed: atomic, not durable across power loss.
    """
    tmp = dest.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # O_EXCL: never follow or reuse a planted name
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            try:  # straight to the descriptor: no buffered file object around one write
                view = memoryview(source).cast("B")
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        else:
            with os.fdopen(fd, "wb") as out:
                if hasattr(source, "read"):
                    shutil.copyfileobj(source, out, COPY_CHUNK)
                else:
                    for chunk in source:
                        out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _local_tree(local_dir: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """Folders and regular files below ``local_dir`` as relative POSIX paths.

    Symlinks are followed (their content is uploaded), with a guard against loops;
    sockets, FIFOs and devices are skipped.
    """
    dirs: list[str] = []
    files: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(local_dir, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        rel_dir = Path(dirpath).relative_to(local_dir).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if rel_dir:
            dirs.append(rel_dir)
        for name in filenames:
            src = Path(dirpath, name)
            with contextlib.suppress(OSError):
                if stat.S_ISREG(src.stat().st_mode):
                    files.append((src, join_artifact_path(rel_dir, name)))
    return dirs, files


class ArtifactRepository(ABC):
    """Artifacts stored below one root URI (``artifact_uri``)."""

    download_workers: int = 1
    """Files fetched at once by a folder download; remote stores raise it."""

    local_files: bool = False
    """``open`` and reads are calls on local files (no network): a server may make them on its event
    loop when they are small."""

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.artifact_uri!r})"

    # -- writing -----------------------------------------------------------------
    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy one local file into the folder ``artifact_path`` (the root when None)."""
        folder = validate_artifact_path(artifact_path)
        src = Path(local_file)
        if src.is_dir():
            raise InvalidParameterValue(f"{str(src)!r} is a folder; use log_artifacts to upload folders")
        if not src.is_file():
            raise ResourceDoesNotExist(f"Local file {str(src)!r} does not exist")
        self._put_file(src, validate_artifact_path(join_artifact_path(folder, src.name)))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy the content of a local folder (recursively, empty folders too) into ``artifact_path``.

        Every destination path is validated before anything is written.
        """
        folder = validate_artifact_path(artifact_path)
        src = Path(local_dir)
        if not src.is_dir():
            raise ResourceDoesNotExist(f"Local folder {str(src)!r} does not exist")
        dirs, files = _local_tree(src)
        dir_dests = [validate_artifact_path(join_artifact_path(folder, d)) for d in dirs]
        file_dests = [(f, validate_artifact_path(join_artifact_path(folder, rel))) for f, rel in files]
        if folder:
            self._make_dir(folder)
        for dest in dir_dests:
            self._make_dir(dest)
        for local_file, dest in file_dests:
            self._put_file(local_file, dest)

    def write_bytes(self, artifact_file: str, data: Bytes) -> None:
        """Store ``data`` as the file ``artifact_file`` (replacing it atomically if present)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"write_bytes needs bytes, got {type(data).__name__}")
        self._put_bytes(self._file_path(artifact_file), data)

    def write_files(self, files: Sequence[tuple[str, Bytes]]) -> None:
        """Store several files, ``(artifact_file, data)`` each, every one as ``write_bytes`` stores it
        (atomically, file by file); a repository that can do many at once cheaper overrides it."""
        for artifact_file, data in files:
            self.write_bytes(artifact_file, data)

    def write_stream(self, artifact_file: str, chunks: Iterable[Bytes]) -> None:
        """Store the concatenated ``chunks`` as the file ``artifact_file``, in bounded memory.

        The data never has to fit in memory: chunks are written out as they come, and
        the file appears (or is replaced) only once the iterable is exhausted; if it
        raises, nothing is stored.
        """
        self._put_stream(self._file_path(artifact_file), chunks)

    # -- reading -----------------------------------------------------------------
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly inside ``path``, sorted by path.

        As in MLflow, a missing path (or a file) lists as ``[]``, so the root of a
        run that has logged nothing yet is simply empty.
        """
        return sorted(self._list(validate_artifact_path(path)), key=lambda info: info.path)

    def file_info(self, artifact_path: str | None) -> FileInfo | None:
        """The file or folder at ``artifact_path`` ("" or None: the root), or None when missing."""
        return self._stat(validate_artifact_path(artifact_path))

    def open(self, artifact_file: str) -> BinaryIO:
        """A binary file object to stream the artifact from; the caller closes it."""
        return self._open(self._file_path(artifact_file))

    def read_bytes(self, artifact_file: str) -> bytes:
        """The whole content of one artifact file."""
        with self.open(artifact_file) as f:
            return f.read()

    def read_files(self, artifact_files: Sequence[str], limit: int | None = None) -> list[bytes]:
        """The contents of several files, each as ``read_bytes`` reads it; PayloadTooLarge once they
        add up to more than ``limit`` bytes. A repository that can read many at once cheaper (and
        tell a size before reading) overrides it."""
        out, total = [], 0
        for f in artifact_files:
            out.append(self.read_bytes(f))
            total += len(out[-1])
            if limit is not None and total > limit:
                raise PayloadTooLarge(f"The files asked for exceed {limit} bytes: ask for fewer at a time")
        return out

    def download_artifacts(
        self, artifact_path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy a file or a whole folder to local disk and return the local path.

        The artifact keeps its relative path below ``dst_path`` (downloading
        ``"sub/a.txt"`` gives ``<dst_path>/sub/a.txt``). ``dst_path`` is created if
        needed; when None, a new temporary folder is used (and removed again if the
        download fails).
        """
        rel = validate_artifact_path(artifact_path)
        own_tmp = dst_path is None
        dst_root = Path(tempfile.mkdtemp(prefix="modelyard-artifacts-")) if own_tmp else Path(dst_path)
        try:
            return str(self._download(rel, dst_root))
        except BaseException:
            if own_tmp:
                shutil.rmtree(dst_root, ignore_errors=True)
            raise

    # -- deleting ----------------------------------------------------------------
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a folder with everything below it (the whole root when None)."""
        rel = validate_artifact_path(artifact_path)
        if self._stat(rel) is None:
            if rel == "":
                return
            raise ResourceDoesNotExist(f"Artifact {rel!r} does not exist")
        self._delete(rel)

    # -- helpers -----------------------------------------------------------------
    def _file_path(self, artifact_file: str) -> str:
        rel = validate_artifact_path(artifact_file)
        if not rel:
            raise InvalidParameterValue(f"Invalid artifact file {artifact_file!r}: a file name is required")
        return rel

    def _download(self, rel: str, dst_root: Path) -> Path:
        info = self._stat(rel)  # before touching dst_root: a refused path creates nothing
        try:
            dst_root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidParameterValue(f"Download destination {str(dst_root)!r} is not a folder") from exc
        if info is None:
            if rel:
                raise ResourceDoesNotExist(f"Artifact {rel!r} does not exist")
            return dst_root  # a root nothing was logged to: an empty folder
        target = dst_root.joinpath(*rel.split("/")) if rel else dst_root
        if not info.is_dir:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download_file(rel, target)
            return target
        jobs: list[tuple[str, Path]] = []
        sizes: dict[str, int | None] = {}
        pending = [rel]
        while pending:  # list the whole tree first (folders are created as found) ...
            folder = pending.pop()
            dst_root.joinpath(*folder.split("/")).mkdir(parents=True, exist_ok=True)
            for child in self._list(folder):
                child_rel = self._checked_child(child.path, folder)
                if child.is_dir:
                    pending.append(child_rel)
                else:
                    jobs.append((child_rel, dst_root.joinpath(*child_rel.split("/"))))
                    sizes[child_rel] = child.file_size
        self._download_files(jobs, sizes)  # ... then fetch the files
        return target

    def _download_files(
        self, jobs: list[tuple[str, Path]], sizes: dict[str, int | None] | None = None
    ) -> None:
        """Fetch ``(rel, target)`` pairs, ``download_workers`` at a time; the first error wins.
        ``sizes``: the listed size of each ``rel`` (None: unknown), for repositories that batch."""
        workers = min(self.download_workers, len(jobs))
        if workers <= 1:
            for rel, target in jobs:
                self._download_file(rel, target)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="modelyard-download") as pool:
            futures = [pool.submit(self._download_file, rel, target) for rel, target in jobs]
            _done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
            for future in not_done:
                future.cancel()
            for future in futures:
                error = None if future.cancelled() else future.exception()
                if error is not None:
                    raise error

    @staticmethod
    def _checked_child(path: str, folder: str) -> str:
        """Re-validate a listed path (a remote store could answer anything) and keep it in ``folder``."""
        child = validate_artifact_path(path)
        if not child.startswith(folder + "/" if folder else "") or child == folder:
            raise InvalidParameterValue(f"Listing of {folder!r} returned {path!r}, which is outside it")
        return child

    def _download_file(self, rel: str, target: Path) -> None:
        """Copy one artifact file to ``target`` (whose folder exists), atomically."""
        with self._open(rel) as src:
            write_file_atomically(target, src)

    def _make_dir(self, rel: str) -> None:  # noqa: B027 - optional hook, folders are implicit in object stores
        """Create an (empty) folder; a no-op where folders exist only through their files."""

    # -- primitives (paths are canonical; "" is the root) ------------------------
    @abstractmethod
    def _stat(self, rel: str) -> FileInfo | None:
        """The file or folder at ``rel``, or None when it does not exist."""

    @abstractmethod
    def _list(self, rel: str) -> list[FileInfo]:
        """The direct children of folder ``rel``; ``[]`` when it is missing or a file."""

    @abstractmethod
    def _open(self, rel: str) -> BinaryIO:
        """Open a file for reading; ResourceDoesNotExist when missing."""

    @abstractmethod
    def _put_file(self, local_file: Path, rel: str) -> None:
        """Store a local file at ``rel`` (creating folders as needed), atomically."""

    @abstractmethod
    def _put_bytes(self, rel: str, data: Bytes) -> None:
        """Store bytes at ``rel`` (creating folders as needed), atomically."""

    def _put_stream(self, rel: str, chunks: Iterable[Bytes]) -> None:
        """Store streamed chunks at ``rel``. Default: spool them to a local temporary file, then
        ``_put_file`` it; stores that can write a stream directly override this."""
        with tempfile.TemporaryDirectory(prefix="modelyard-upload-") as tmp:
            spool = Path(tmp, "upload")
            write_file_atomically(spool, chunks)
            self._put_file(spool, rel)

    @abstractmethod
    def _delete(self, rel: str) -> None:
        """Delete the existing file or folder at ``rel`` ("" deletes everything)."""
