"""Resumable (tus 1.0) uploads: their records in Redis and their bytes so far in storage.

An upload's id is the id its job will have. The record says how long the file will be,
what its job should be (``metadata``) and when it expires; the bytes so far are kept where
no download or job reads them (``local``: a hidden ``uploads/.tus/<id>.part``; ``s3``: the
parts of a multipart upload and a small tail object) and become the job's source whole,
in one rename or one completed multipart upload, once they are all there.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import redis

from common import keys
from common.jobs import is_job_id
from common.redis_client import text
from common.storage import UPLOADS, LocalStorage, Storage, upload_key

LOCK_S = 120
"""How long one PATCH may hold an upload before another may take it over."""
PARTIAL_DIR = f"{UPLOADS}/.tus"


@dataclass
class ResumableUpload:
    id: str
    length: int
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    expires_at: float = 0.0
    file_name: str = ""
    """The name its bytes get in the uploads when the last one arrives."""
    job_id: str | None = None
    """Set when the last byte arrived and the job was created."""
    storage_state: dict[str, Any] = field(default_factory=dict)
    """What the storage needs to go on (``s3``: the multipart upload and its parts)."""

    @property
    def expired(self) -> bool:
        return self.job_id is None and time.time() >= self.expires_at


class ResumableStore:
    """The records of resumable uploads, and the lock one PATCH holds at a time."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, upload: ResumableUpload) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(keys.resumable(upload.id), "upload", json.dumps(asdict(upload)))
        pipe.zadd(keys.RESUMABLE_EXPIRY, {upload.id: upload.expires_at})
        pipe.execute()

    def get(self, upload_id: str) -> ResumableUpload | None:
        if not is_job_id(upload_id):
            return None
        raw = self.redis.hget(keys.resumable(upload_id), "upload")
        return ResumableUpload(**json.loads(text(raw))) if raw else None

    def save(self, upload: ResumableUpload) -> None:
        self.redis.hset(keys.resumable(upload.id), "upload", json.dumps(asdict(upload)))

    def finished(self, upload: ResumableUpload, job_id: str) -> None:
        """Record the job the upload became; it no longer expires."""
        upload.job_id = job_id
        pipe = self.redis.pipeline()
        pipe.hset(keys.resumable(upload.id), "upload", json.dumps(asdict(upload)))
        pipe.expire(keys.resumable(upload.id), 7 * 24 * 3600)  # answers a late HEAD a week
        pipe.zrem(keys.RESUMABLE_EXPIRY, upload.id)
        pipe.execute()

    def delete(self, upload_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(keys.resumable(upload_id), keys.resumable_lock(upload_id))
        pipe.zrem(keys.RESUMABLE_EXPIRY, upload_id)
        pipe.execute()

    def expired_ids(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        return [text(i) for i in self.redis.zrangebyscore(keys.RESUMABLE_EXPIRY, 0, now)]

    def lock(self, upload_id: str, token: str) -> bool:
        return bool(self.redis.set(keys.resumable_lock(upload_id), token, nx=True, ex=LOCK_S))

    def unlock(self, upload_id: str, token: str) -> None:
        if text(self.redis.get(keys.resumable_lock(upload_id)) or b"") == token:
            self.redis.delete(keys.resumable_lock(upload_id))


class PartialUpload(ABC):
    """The bytes of one unfinished upload so far. One PATCH is one session: :meth:`begin`,
    :meth:`write` blocks, then :meth:`keep` them or :meth:`drop` them all (a checksum that
    did not match, a body past the length)."""

    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def begin(self) -> int:
        """Start a session; return the size so far (the offset it appends at)."""

    @abstractmethod
    def write(self, block: bytes) -> None: ...

    @abstractmethod
    def keep(self) -> int:
        """End the session keeping what it wrote; return the new size."""

    @abstractmethod
    def drop(self) -> None:
        """End the session as if it had written nothing."""

    @abstractmethod
    def finish(self) -> None:
        """Make the whole upload the stored file ``uploads/<file_name>`` (after :meth:`keep`)."""

    @abstractmethod
    def remove(self) -> None: ...


class LocalPartial(PartialUpload):
    """``local`` storage: one hidden file appended to, renamed into the uploads at the end."""

    def __init__(self, storage: LocalStorage, upload: ResumableUpload) -> None:
        self.storage, self.upload = storage, upload
        self.path = storage.path(f"{PARTIAL_DIR}/{upload.id}.part")
        self.handle: BinaryIO | None = None
        self.start = 0

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def begin(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("ab")
        self.start = self.handle.tell()
        return self.start

    def write(self, block: bytes) -> None:
        assert self.handle is not None
        self.handle.write(block)

    def keep(self) -> int:
        assert self.handle is not None
        self.handle.close()
        return self.size()

    def drop(self) -> None:
        if self.handle is not None:
            self.handle.close()
        os.truncate(self.path, self.start)

    def finish(self) -> None:
        final: Path = self.storage.path(upload_key(self.upload.file_name))
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, final)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def partial_upload(storage: Storage, store: ResumableStore,
                   upload: ResumableUpload) -> PartialUpload:
    """Where an unfinished upload's bytes are kept in this cluster's storage."""
    if isinstance(storage, LocalStorage):
        return LocalPartial(storage, upload)
    from common.resumable_s3 import S3Partial  # only with s3 storage (boto3)

    return S3Partial(storage, store, upload)
