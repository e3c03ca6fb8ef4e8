"""Artifacts in a folder on the local filesystem (a plain path or a ``file:`` URI).

Every path goes through :func:`~modelyard.artifacts.paths.join_under_root`, which
resolves symlinks and refuses anything that lands outside the root. Writes are atomic
(temporary file in the destination folder, then ``os.replace``); downloads copy, so a
caller never receives a path into the store itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from modelyard.artifacts.base import TEMP_PREFIX, ArtifactRepository, Bytes, write_file_atomically
from modelyard.artifacts.paths import join_under_root, local_path_from_uri, validate_artifact_path
from modelyard.entities.common import FileInfo
from modelyard.exceptions import InvalidParameterValue, PayloadTooLarge, ResourceDoesNotExist

logger = logging.getLogger(__name__)

KNOWN_FOLDERS = 4096
"""Folders a repository remembers as checked (see ``_folder``); past that the memory starts over."""


class LocalArtifactRepository(ArtifactRepository):
    """Artifacts below a local folder, created on the first write."""

    local_files = True

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = local_path_from_uri(artifact_uri)
        # folder -> (its path below the resolved root, (st_dev, st_ino) of the directory there)
        self._folders: dict[str, tuple[Path, tuple[int, int]]] = {}

    def _path(self, rel: str) -> Path:
        return join_under_root(self.root, rel)

    # -- primitives --------------------------------------------------------------
    def _stat(self, rel: str) -> FileInfo | None:
        try:
            st = self._path(rel).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return FileInfo(rel, True)
        if stat.S_ISREG(st.st_mode):
            return FileInfo(rel, False, st.st_size)
        return None  # sockets, FIFOs, devices are not artifacts

    def _list(self, rel: str) -> list[FileInfo]:
        try:
            with os.scandir(self._path(rel)) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return []
        infos = []
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                continue  # a write in progress
            info = self._entry_info(rel, entry)
            if info is not None:
                infos.append(info)
        return infos

    def _entry_info(self, folder: str, entry: os.DirEntry[str]) -> FileInfo | None:
        child = f"{folder}/{entry.name}" if folder else entry.name
        try:
            validate_artifact_path(child)
            if entry.is_symlink():
                self._path(child)  # refuses links that lead out of the root
            st = entry.stat()
        except InvalidParameterValue as exc:
            logger.warning("Skipping %r in %s: %s", child, self.artifact_uri, exc.message)
            return None
        except OSError:  # dangling symlink, or removed meanwhile
            return None
        if stat.S_ISDIR(st.st_mode):
            return FileInfo(child, True)
        if stat.S_ISREG(st.st_mode):
            return FileInfo(child, False, st.st_size)
        return None

    def _open(self, rel: str) -> BinaryIO:
        path = self._path(rel)
        try:
            f = open(path, "rb")  # returned to the caller, who closes it
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ResourceDoesNotExist(f"Artifact {rel!r} does not exist") from exc
        except IsADirectoryError as exc:
            raise InvalidParameterValue(f"Artifact {rel!r} is a folder, not a file") from exc
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            f.close()
            raise InvalidParameterValue(f"Artifact {rel!r} is not a regular file")
        return f

    def _put_file(self, local_file: Path, rel: str) -> None:
        dest = self._prepare_destination(rel)
        with open(local_file, "rb") as src:
            write_file_atomically(dest, src)

    def _put_bytes(self, rel: str, data: Bytes) -> None:
        write_file_atomically(self._prepare_destination(rel), data)

    def _put_stream(self, rel: str, chunks: Iterable[Bytes]) -> None:
        write_file_atomically(self._prepare_destination(rel), chunks)  # temp file beside it, then rename

    def _make_dir(self, rel: str) -> None:
        path = self._path(rel)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidParameterValue(f"Cannot create folder {rel!r}: a file is in the way") from exc

    def _delete(self, rel: str) -> None:
        path = self._path(rel)
        if path.is_symlink() or not path.is_dir():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            shutil.rmtree(path)

    def write_files(self, files: Sequence[tuple[str, Bytes]]) -> None:
        """As ``write_bytes`` file by file (a batch of small files,
        ``modelyard.server.routes.artifact_batches``); each folder is created and proved inside the
        root once (``_folder``)."""
        dests = [(self._file_path(artifact_file), data) for artifact_file, data in files]
        for rel, data in dests:
            write_file_atomically(self._prepare_destination(rel), data)

    def read_files(self, artifact_files: Sequence[str], limit: int | None = None) -> list[bytes]:
        """As ``read_bytes`` file by file, but each folder is proved inside the root once; a name
        that is anything but a regular file (a link, a folder) takes ``read_bytes``'s careful way.
        PayloadTooLarge as soon as the sizes add up to more than ``limit``, before reading more."""
        folders: dict[str, Path] = {}
        out: list[bytes] = []
        total = 0
        for artifact_file in artifact_files:
            rel = self._file_path(artifact_file)
            folder, _, name = rel.rpartition("/")
            base = folders.get(folder)
            if base is None:
                base = folders[folder] = self._path(folder)
            path = base / name
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                regular = False
            if not regular:
                out.append(self.read_bytes(rel))  # its error, or a link checked and followed
                total += len(out[-1])
            else:
                with open(path, "rb") as f:
                    total += os.fstat(f.fileno()).st_size
                    if limit is None or total <= limit:
                        out.append(f.read())
            if limit is not None and total > limit:
                raise PayloadTooLarge(f"The files asked for exceed {limit} bytes: ask for fewer at a time")
        return out

    # -- helpers -----------------------------------------------------------------
    def _prepare_destination(self, rel: str) -> Path:
        """The path to write ``rel`` to, with its folder created and checked (``_folder``). A name
        that exists as anything but a regular file (a link, a folder) is resolved again the careful
        way, which refuses a link out of the root and a folder."""
        folder, _, name = rel.rpartition("/")
        dest = self._folder(folder) / name
        try:
            mode = os.lstat(dest).st_mode
        except FileNotFoundError:
            return dest
        if stat.S_ISREG(mode):
            return dest
        dest = self._path(rel)  # a link: refused when it leads out of the root
        if dest.is_dir() and not dest.is_symlink():
            raise InvalidParameterValue(f"Cannot write file {rel!r}: a folder of that name exists")
        return dest

    def _folder(self, folder: str) -> Path:
        """The folder ``folder`` ("" is the root), created when missing, below the resolved root.

        Proving a path inside the root resolves every component of it (one ``lstat`` each, in
        Python); a server writing many files into one folder would pay that for every file. So a
        folder proved once is remembered with the identity of the directory found there, and the
        next write into it only checks, with one ``lstat``, that its path still names that same
        directory (not a link, not another directory put in its place, not gone); anything else is
        resolved and proved again."""
        known = self._folders.get(folder)
        if known is not None:
            path, identity = known
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == identity:
                return path
            self._folders.pop(folder, None)
        self._make_dir(folder)
        path = self._path(folder)  # resolved now that it exists: proved inside the root
        try:
            st = os.lstat(path)
        except OSError:
            return path  # removed meanwhile: the write fails and says so
        if stat.S_ISDIR(st.st_mode):  # a link to a folder inside the root is resolved every time
            if len(self._folders) >= KNOWN_FOLDERS:
                self._folders.clear()
            self._folders[folder] = (path, (st.st_dev, st.st_ino))
        return path
