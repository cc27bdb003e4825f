"""S3-compatible object storage (``FFCLUSTER_STORAGE=s3``): AWS S3, MinIO, Ceph RGW, Garage.

Only the S3 API is used, through boto3 and its transfer manager (signing, retries with
backoff, multipart). An object appears only when whole: uploads are single PUTs or
multipart uploads completed after the last part, and an interrupted one is aborted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from common.pids import pid_alive
from common.settings import Settings
from common.storage import (
    UPLOADS,
    Guard,
    PublishAborted,
    Storage,
    StorageError,
    StorageUnavailable,
    Workspace,
    checked_key,
    content_type,
)

log = logging.getLogger(__name__)

DOWNLOAD_RANGE_BYTES = 64 * 1024 * 1024
"""Downloads go in ranges this large, four at a time: large enough that a server which
reads a whole object for each ranged GET (moto does) is not read n times over."""
GUARD_EVERY_S = 1.0
"""How often a running upload asks its guard whether the work is still this worker's."""


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class S3Storage(Storage):
    """A bucket (under a prefix) that every tier reads and writes through the S3 API."""

    kind = "s3"

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket, "validated by Settings"
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.endpoint = settings.s3_endpoint_url
        self.region = settings.s3_region
        self.attempts = settings.s3_attempts
        self.scratch = settings.effective_scratch_dir
        part = settings.s3_part_mb * 1024 * 1024
        self.transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part,
                                       max_concurrency=4)
        ranges = max(part, DOWNLOAD_RANGE_BYTES)
        self.download_transfer = TransferConfig(multipart_threshold=ranges,
                                                multipart_chunksize=ranges, max_concurrency=4)
        self._clients: dict[int, Any] = {}

    @property
    def where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint or 'AWS S3'}"

    @property
    def client(self) -> Any:
        """One boto3 client per process (clients are not safe across a fork)."""
        pid = os.getpid()
        if pid not in self._clients:
            self._clients = {pid: boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                config=Config(retries={"max_attempts": self.attempts, "mode": "standard"},
                              connect_timeout=5, read_timeout=60,
                              s3={"addressing_style": "path" if self.endpoint else "auto"}))}
        return self._clients[pid]

    def object_key(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def failure(self, exc: BaseException, doing: str) -> StorageError:
        """Turn a boto3 error into one sentence for a log, a record or a user."""
        code = _error_code(exc)
        if isinstance(exc, NoCredentialsError):
            return StorageUnavailable("No S3 credentials were found: set AWS_ACCESS_KEY_ID and "
                                      "AWS_SECRET_ACCESS_KEY, a profile or an instance role.")
        if code in ("NoSuchBucket", "404") and doing == "checking":
            return StorageUnavailable(f"The {self.where} does not exist.")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageUnavailable(f"The {self.where} refused these credentials ({code}).")
        if isinstance(exc, ClientError):
            return StorageError(f"The object store refused {doing} ({code or exc}).")
        return StorageError(f"The object store ({self.where}) could not be reached while "
                            f"{doing}, after {self.attempts} attempts: {exc}.")

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            failure = self.failure(exc, "checking")
            if not isinstance(failure, StorageUnavailable):
                failure = StorageUnavailable(str(failure))
            raise failure from None

    @property
    def part_bytes(self) -> int:
        """Bytes per part of a multipart upload (``FFCLUSTER_S3_PART_MB``)."""
        return int(self.transfer.multipart_chunksize)

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, self.object_key(key), self.part_bytes)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self.failure(exc, f"looking up {key}") from None
        except BotoCoreError as exc:
            raise self.failure(exc, f"looking up {key}") from None
        return True

    def remove(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self.failure(exc, f"removing {key}") from None

    def keys(self, prefix: str) -> list[str]:
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.object_key(prefix))
            for page in pages:
                found += [item["Key"].removeprefix(self.prefix)
                          for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise self.failure(exc, f"listing {prefix}") from None
        return sorted(k for k in found if k == prefix or k.startswith(prefix.rstrip("/") + "/"))

    def remove_tree(self, prefix: str) -> None:
        for key in self.keys(prefix):
            self.remove(key)

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Workspace]:
        root = self.scratch / "tasks" / f"{os.getpid()}-{secrets.token_hex(4)}"
        root.mkdir(parents=True)
        try:
            yield S3Workspace(self, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def cached(self, key: str) -> Path:
        return self.scratch / "cache" / checked_key(key)

    def evict_cached(self, key: str) -> None:
        self.cached(key).unlink(missing_ok=True)

    def cached_keys(self) -> list[str]:
        folder = self.scratch / "cache" / UPLOADS
        if not folder.is_dir():
            return []
        return [f"{UPLOADS}/{p.name}" for p in folder.iterdir()
                if p.is_file() and not p.name.startswith(".")]

    def clear_scratch(self) -> None:
        tasks = self.scratch / "tasks"
        for folder in tasks.iterdir() if tasks.is_dir() else []:
            pid = folder.name.partition("-")[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def download(self, key: str, path: Path) -> Path:
        """Download ``key`` to ``path`` (atomically: a crash never leaves half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            self.client.download_file(self.bucket, self.object_key(key), str(partial),
                                      Config=self.download_transfer)
            os.replace(partial, path)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise StorageError(f"The stored file {key} is missing from the "
                                   f"{self.where}.") from None
            raise self.failure(exc, f"downloading {key}") from None
        except BotoCoreError as exc:
            raise self.failure(exc, f"downloading {key}") from None
        finally:
            partial.unlink(missing_ok=True)
        return path

    def upload(self, path: Path, key: str, guard: Guard | None = None) -> None:
        """Upload a local file as ``key``; a guard that says no aborts it (nothing appears)."""
        if guard is not None and not guard():
            raise PublishAborted(key)
        callback = None if guard is None else _GuardCheck(guard)
        try:
            self.client.upload_file(str(path), self.bucket, self.object_key(key),
                                    ExtraArgs={"ContentType": content_type(key)},
                                    Config=self.transfer, Callback=callback)
        except PublishAborted:
            raise
        except (BotoCoreError, ClientError) as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, PublishAborted) or (callback and callback.refused):
                raise PublishAborted(key) from None
            raise self.failure(exc, f"uploading {key}") from None
        if callback is not None and callback.refused:
            raise PublishAborted(key)

    def open(self, key: str, byte_range: str | None = None,
             if_none_match: str | None = None) -> StoredObject | None:
        """Open ``key`` for reading (a byte range, as a Range header says); None if absent."""
        extra: dict[str, str] = {}
        if byte_range:
            extra["Range"] = byte_range
        if if_none_match:
            extra["IfNoneMatch"] = if_none_match
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key), **extra)
        except ClientError as exc:
            code = _error_code(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in ("NoSuchKey", "404"):
                return None
            if status in (304, 412, 416) or code in ("InvalidRange", "NotModified"):
                return StoredObject(status or 416, {}, iter(()))
            raise self.failure(exc, f"reading {key}") from None
        except BotoCoreError as exc:
            raise self.failure(exc, f"reading {key}") from None
        headers = {"Content-Type": content_type(key), "Content-Length": str(reply["ContentLength"]),
                   "ETag": reply.get("ETag", ""), "Accept-Ranges": "bytes"}
        if reply.get("LastModified") is not None:
            headers["Last-Modified"] = reply["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")
        if reply.get("ContentRange"):
            headers["Content-Range"] = reply["ContentRange"]
        status = 206 if reply.get("ContentRange") else 200
        return StoredObject(status, headers, _chunks_of(reply["Body"]))


@dataclass
class StoredObject:
    """A stored file being read: the HTTP status and headers to answer with, and its bytes."""

    status: int
    headers: dict[str, str]
    body: Iterator[bytes]


def _chunks_of(body: Any) -> Iterator[bytes]:
    """The object's bytes; the connection is released however the reader stops."""
    try:
        yield from body.iter_chunks(256 * 1024)
    finally:
        body.close()


class _GuardCheck:
    """The transfer manager's progress callback: asks the guard about once a second."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.last = time.monotonic()
        self.refused = False

    def __call__(self, _sent: int) -> None:
        now = time.monotonic()
        if self.refused or now - self.last >= GUARD_EVERY_S:
            self.last = now
            if self.refused or not self.guard():
                self.refused = True
                raise PublishAborted("the lease passed to another worker")


class S3Workspace(Workspace):
    """A private folder in the scratch directory, mirrored to the bucket on publish."""

    def __init__(self, storage: S3Storage, root: Path) -> None:
        super().__init__(root)
        self.storage = storage

    def fetch(self, key: str) -> Path:
        local = self.path(key)
        if local.is_file():
            return local
        if key.startswith(f"{UPLOADS}/"):  # sources are immutable: one copy per worker host
            cached = self.storage.cached(key)
            return cached if cached.is_file() else self.storage.download(key, cached)
        return self.storage.download(key, local)

    def publish(self, key: str, guard: Guard | None = None) -> None:
        self.storage.upload(self.path(key), key, guard)

    def remove_tree(self, key: str) -> None:
        self.storage.remove_tree(key)
        shutil.rmtree(self.path(key), ignore_errors=True)


class S3Writer:
    """An upload streamed into the bucket: parts of a bounded size, completed at the end."""

    def __init__(self, storage: S3Storage, object_key: str, part_bytes: int) -> None:
        self.storage, self.key, self.part_bytes = storage, object_key, part_bytes
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    @property
    def _client(self) -> Any:
        return self.storage.client

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.part_bytes:
            self._send_part(bytes(self.buffer[:self.part_bytes]))
            del self.buffer[:self.part_bytes]

    def _send_part(self, body: bytes) -> None:
        bucket = self.storage.bucket
        try:
            if self.upload_id is None:
                self.upload_id = self._client.create_multipart_upload(
                    Bucket=bucket, Key=self.key, ContentType=content_type(self.key))["UploadId"]
            number = len(self.parts) + 1
            reply = self._client.upload_part(Bucket=bucket, Key=self.key, PartNumber=number,
                                             UploadId=self.upload_id, Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise self.storage.failure(exc, "storing an upload") from None
        self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def commit(self) -> None:
        bucket = self.storage.bucket
        try:
            if self.upload_id is None:
                self._client.put_object(Bucket=bucket, Key=self.key, Body=bytes(self.buffer),
                                        ContentType=content_type(self.key))
            else:
                if self.buffer:
                    self._send_part(bytes(self.buffer))
                self._client.complete_multipart_upload(
                    Bucket=bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts})
        except (BotoCoreError, ClientError) as exc:
            self.abort()
            raise self.storage.failure(exc, "storing an upload") from None
        self.buffer.clear()

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None
        try:
            self._client.abort_multipart_upload(Bucket=self.storage.bucket, Key=self.key,
                                                UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not abort the multipart upload of %s: %s", self.key, exc)
