"""Uploads of failed and canceled jobs are kept for a retry, then removed; cached copies
of sources go once their job ends."""

from __future__ import annotations

import logging
import time

from common.resumable import ResumableStore, partial_upload
from common.settings import Settings
from common.storage import Storage, StorageError
from common.store import UPLOAD_EXPIRES_IN, JobStore
from workers.steps import layout

log = logging.getLogger(__name__)


def remove_expired_uploads(store: JobStore, storage: Storage, settings: Settings,
                           now: float | None = None) -> list[str]:
    """Delete the uploads whose retention ran out; return the job ids whose upload went."""
    if not settings.upload_retention_h:
        return []
    cutoff = (time.time() if now is None else now) - settings.upload_retention_h * 3600
    removed = []
    for job_id in store.uploads_expired(cutoff):
        job = store.get(job_id)
        if job is not None and job.state in UPLOAD_EXPIRES_IN:
            try:
                storage.remove(layout.source_key(job))
            except (layout.UnsafeRecord, StorageError) as exc:
                log.warning("not removing the upload of job %s: %s", job_id, exc)
                continue  # tried again at the next sweep
            else:
                removed.append(job_id)
                log.info("removed the upload of %s job %s (kept %.0f h)", job.state, job_id,
                         settings.upload_retention_h)
        store.forget_expiry(job_id)
    return removed


def remove_expired_resumable_uploads(store: ResumableStore, storage: Storage,
                                     now: float | None = None) -> list[str]:
    """Remove the bytes and records of resumable uploads that expired unfinished."""
    removed = []
    for upload_id in store.expired_ids(now):
        upload = store.get(upload_id)
        if upload is not None and upload.job_id is not None:
            continue  # finished meanwhile; its bytes are a job's source now
        try:
            if upload is not None:
                partial_upload(storage, store, upload).remove()
        except (StorageError, OSError) as exc:
            log.warning("not removing expired upload %s: %s", upload_id, exc)
            continue
        store.delete(upload_id)
        removed.append(upload_id)
        log.info("removed expired unfinished upload %s", upload_id)
    return removed


def evict_finished_sources(store: JobStore, storage: Storage) -> list[str]:
    """Drop this host's cached copies of sources whose job ended (or is gone)."""
    evicted = []
    for key in storage.cached_keys():
        job_id = key.rsplit("/", 1)[-1].split(".", 1)[0]
        job = store.get(job_id)
        if job is None or job.terminal:
            storage.evict_cached(key)
            evicted.append(key)
    return evicted
