"""Uploads of failed and canceled jobs are kept for a retry, then removed."""

from __future__ import annotations

import logging
import time

from common.settings import Settings
from common.store import UPLOAD_EXPIRES_IN, JobStore
from workers.steps import layout

log = logging.getLogger(__name__)


def remove_expired_uploads(store: JobStore, settings: Settings,
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
                source = layout.source_path(settings, job)
            except layout.UnsafeRecord as exc:
                log.warning("not removing the upload of job %s: %s", job_id, exc)
            else:
                source.unlink(missing_ok=True)
                removed.append(job_id)
                log.info("removed the upload of %s job %s (kept %.0f h)", job.state, job_id,
                         settings.upload_retention_h)
        store.forget_expiry(job_id)
    return removed
