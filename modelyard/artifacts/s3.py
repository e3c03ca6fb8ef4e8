"""Artifacts in Amazon S3 or an S3-compatible store (``s3://bucket/prefix``), through boto3.

boto3 is an optional dependency (``pip install 'modelyard[s3]'``), imported on first use.
The endpoint comes from ``Settings.artifacts.s3_endpoint_url`` (MinIO, SeaweedFS, ...; path-style
addressing then), credentials and region from boto3's standard chain (``AWS_*`` variables,
``~/.aws/config``, instance roles). One client per endpoint and process.

Large files go through boto3's managed transfer (multipart upload, parallel ranged
downloads); an object appears only when its upload completes, so writes are atomic.
``open`` returns a seekable reader that fetches byte ranges lazily, so the artifact proxy
streams S3 objects and serves ``Range`` requests without holding them in memory. Listings
page through ``list_objects_v2`` with delimiter ``/``. botocore errors are translated into
``modelyard.exceptions`` at one boundary, :func:`_translated`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from modelyard.artifacts import client_defaults
from modelyard.artifacts.base import TEMP_PREFIX, ArtifactRepository, Bytes, join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.entities.common import FileInfo
from modelyard.exceptions import (
    InvalidParameterValue,
    ModelyardError,
    NotImplementedFeature,
    PermissionDenied,
    ResourceDoesNotExist,
    Unauthenticated,
)
from modelyard.settings import Settings

logger = logging.getLogger(__name__)

MB = 1024 * 1024
DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"})

_clients_lock = threading.Lock()
_clients: dict[tuple, Any] = {}


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise NotImplementedFeature(
            "s3:// artifacts need boto3, which is not installed: pip install 'modelyard[s3]'"
        ) from exc
    return boto3


def s3_client(settings: Settings) -> Any:
    """The shared boto3 S3 client for the configured endpoint (thread-safe once built)."""
    endpoint = settings.artifacts.s3_endpoint_url or None
    key = (os.getpid(), endpoint, settings.artifacts.s3_ignore_tls)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            boto3 = _boto3()
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=32,
                s3={"addressing_style": "path"} if endpoint else {},
            )
            session = boto3.session.Session()  # sessions are not thread-safe: one per client
            client = session.client(
                "s3", endpoint_url=endpoint, verify=not settings.artifacts.s3_ignore_tls, config=config
            )
            _clients[key] = client
        return client


def clear_clients() -> None:
    """Forget the shared clients (tests that change the endpoint or credentials)."""
    with _clients_lock:
        _clients.clear()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix``; the prefix is a canonical artifact path."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InvalidParameterValue(f"Invalid S3 URI {uri!r}: expected s3://bucket/path")
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise InvalidParameterValue(f"Invalid S3 URI {uri!r}: no query or fragment allowed")
    return parts.netloc, validate_artifact_path(parts.path.lstrip("/"))


@contextlib.contextmanager
def _translated(action: str, where: str) -> Iterator[None]:
    """Turn botocore/boto3 errors into modelyard errors (the one place that knows them)."""
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = f"S3 {action} of {where} failed: {code} {error.get('Message', '')}".strip()
        if code in _NOT_FOUND:
            raise ResourceDoesNotExist(message) from exc
        if code in _DENIED:
            raise PermissionDenied(message) from exc
        raise ModelyardError(message) from exc
    except NoCredentialsError as exc:
        raise Unauthenticated(f"S3 {action} of {where}: no AWS credentials found") from exc
    except (BotoCoreError, S3UploadFailedError, S3TransferFailedError) as exc:
        raise ModelyardError(f"S3 {action} of {where} failed: {exc}") from exc


class _ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one object; each read continues a ranged GET from the position."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        if position != self._pos:
            self._drop_body()
            self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        where = f"s3://{self._bucket}/{self._key}"
        with _translated("read", where):
            if self._body is None:
                answer = self._client.get_object(
                    Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-"
                )
                self._body = answer["Body"]
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class S3ArtifactRepository(ArtifactRepository):
    """Artifacts below ``s3://bucket/prefix``."""

    download_workers = 8
    multipart_threshold = 16 * MB
    multipart_chunksize = 16 * MB
    transfer_concurrency = 8
    list_page_size = 1000  # keys per ListObjectsV2 page (S3's maximum)

    def __init__(self, artifact_uri: str, *, settings: Settings | None = None, client: Any = None) -> None:
        super().__init__(artifact_uri)
        self.bucket, self.prefix = parse_s3_uri(artifact_uri)
        if client is None and settings is None:  # the current client context's
            settings = client_defaults()[0]
        self._client = client or s3_client(settings)

    def _key(self, rel: str) -> str:
        return join_artifact_path(self.prefix, rel)

    def _where(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self._key(rel)}"

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.transfer_concurrency,
        )

    def _pages(self, prefix: str, delimiter: str | None = "/") -> Iterator[dict]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        pages = {"PageSize": self.list_page_size}
        with _translated("list", f"s3://{self.bucket}/{prefix}"):
            yield from self._client.get_paginator("list_objects_v2").paginate(
                **kwargs, PaginationConfig=pages
            )

    def _folder_prefix(self, rel: str) -> str:
        key = self._key(rel)
        return f"{key}/" if key else ""

    # -- primitives --------------------------------------------------------------
    def _stat(self, rel: str) -> FileInfo | None:
        if not rel:
            return FileInfo("", True)
        with contextlib.suppress(ResourceDoesNotExist), _translated("stat", self._where(rel)):
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(rel))
            return FileInfo(rel, False, int(head["ContentLength"]))
        with _translated("stat", self._where(rel)):
            answer = self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._folder_prefix(rel), MaxKeys=1
            )
        return FileInfo(rel, True) if answer.get("KeyCount", 0) > 0 else None

    def _list(self, rel: str) -> list[FileInfo]:
        prefix = self._folder_prefix(rel)
        infos: list[FileInfo] = []
        for page in self._pages(prefix):
            entries = [
                (p["Prefix"][len(prefix) :].rstrip("/"), True, None) for p in page.get("CommonPrefixes", [])
            ]
            entries += [(o["Key"][len(prefix) :], False, int(o["Size"])) for o in page.get("Contents", [])]
            for name, is_dir, size in entries:
                if not name:
                    continue  # the folder's own marker object
                child = join_artifact_path(rel, name)
                try:
                    validate_artifact_path(child)
                except InvalidParameterValue as exc:
                    logger.warning("Skipping %r in %s: %s", child, self.artifact_uri, exc.message)
                    continue
                infos.append(FileInfo(child, is_dir, size))
        return infos

    def _open(self, rel: str) -> BinaryIO:
        with _translated("read", self._where(rel)):
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(rel))
        return _ObjectReader(self._client, self.bucket, self._key(rel), int(head["ContentLength"]))  # type: ignore[return-value]

    def _put_file(self, local_file: Path, rel: str) -> None:
        with _translated("upload", self._where(rel)):
            self._client.upload_file(
                str(local_file), self.bucket, self._key(rel), Config=self._transfer_config()
            )

    def _put_bytes(self, rel: str, data: Bytes) -> None:
        with _translated("upload", self._where(rel)):
            self._client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=bytes(data))

    def _download_file(self, rel: str, target: Path) -> None:
        tmp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}")
        try:
            with _translated("download", self._where(rel)):
                self._client.download_file(
                    self.bucket, self._key(rel), str(tmp), Config=self._transfer_config()
                )
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _delete(self, rel: str) -> None:
        """Delete the object ``rel`` and every object below ``rel/``, then the folder entries
        that stores with real folders (SeaweedFS, folder-marker objects) keep, deepest first."""
        folder = self._folder_prefix(rel)
        batch = [self._key(rel)] if rel else []  # the file itself, if rel is one
        folders: set[str] = set()
        for page in self._pages(folder, delimiter=None):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                batch.append(key)
                parts = key[len(folder) :].split("/")[:-1]
                folders.update(folder + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
                if folder:
                    folders.add(folder)
                if len(batch) == DELETE_BATCH:
                    self._delete_keys(batch, rel)
                    batch = []
        if batch:
            self._delete_keys(batch, rel)
        for depth in sorted({f.count("/") for f in folders}, reverse=True):
            level = sorted(f for f in folders if f.count("/") == depth)
            for start in range(0, len(level), DELETE_BATCH):
                self._delete_keys(level[start : start + DELETE_BATCH], rel)

    def _delete_keys(self, keys: list[str], rel: str) -> None:
        objects = {"Objects": [{"Key": k} for k in keys], "Quiet": True}
        with _translated("delete", self._where(rel)):
            answer = self._client.delete_objects(Bucket=self.bucket, Delete=objects)
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise ModelyardError(
                f"S3 delete of {self._where(rel)} failed for {len(answer['Errors'])} key(s), "
                f"e.g. {first.get('Key')!r}: {first.get('Code')} {first.get('Message', '')}".strip()
            )
