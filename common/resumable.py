"""Resumable (tus 1.0) uploads: their records in Redis and their bytes so far in storage.

An upload's id is the id its job will have. The record says how long the file will be,
what its job should be (``metadata``) and when it expires; the bytes so far are kept as
a partial file next to the uploads (``uploads/.tus/<id>.part``: hidden, so no download
or job ever reads it) and become the job's source, renamed whole, once they are all there.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import redis

from common import keys
from common.jobs import is_job_id
from common.redis_client import text
from common.storage import UPLOADS, LocalStorage, Storage, StorageError

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
    job_id: str | None = None
    """Set when the last byte arrived and the job was created."""

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


class PartialFile:
    """The bytes of one unfinished upload in ``local`` storage (one file, appended to)."""

    def __init__(self, storage: LocalStorage, upload_id: str) -> None:
        self.storage = storage
        self.path = storage.path(f"{PARTIAL_DIR}/{upload_id}.part")

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def open_for_append(self) -> tuple[int, BinaryIO]:
        """The current size and a binary file positioned at it (the caller closes it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        return handle.tell(), handle

    def truncate(self, size: int) -> None:
        """Drop what one PATCH appended (a checksum that did not match)."""
        os.truncate(self.path, size)

    def finish(self, key: str) -> None:
        """Make the whole partial file the stored file ``key`` (one rename)."""
        final: Path = self.storage.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, final)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def partial_file(storage: Storage, upload_id: str) -> PartialFile:
    """Where an unfinished upload's bytes are kept in this cluster's storage."""
    if not isinstance(storage, LocalStorage):
        raise StorageError("Resumable uploads need FFCLUSTER_STORAGE=local for now; use a "
                           "multipart POST /api/jobs or a source_url with s3 storage.")
    return PartialFile(storage, upload_id)
