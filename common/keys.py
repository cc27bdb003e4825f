"""Every Redis key and channel ffcluster uses, in one place."""

from __future__ import annotations

from common.workref import WorkRef

PREFIX = "ffc"

JOB_INDEX = f"{PREFIX}:jobs"
"""Sorted set of job ids scored by creation time."""

WORKER_INDEX = f"{PREFIX}:workers"
"""Sorted set of worker hostnames that have announced themselves, scored by last beat."""

METRICS = f"{PREFIX}:metrics"
"""Hash of counters that workers increment for the web tier's /metrics."""

SOCKETIO_CHANNEL = f"{PREFIX}:socketio"
"""Pub/sub channel that carries Socket.IO emits from workers to every web process."""

JOB_STATE_COUNTS = f"{PREFIX}:jobs:by-state"
"""Hash of how many jobs are in each state, moved in the same transaction as the job."""

UPLOADS_TO_EXPIRE = f"{PREFIX}:uploads:expiring"
"""Sorted set of failed or canceled job ids scored by when they ended: their uploads are
removed once ``FFCLUSTER_UPLOAD_RETENTION_H`` has passed (a retry takes the job out)."""

ACTIVE_WORK = f"{PREFIX}:active"
"""Set of work refs (:class:`~common.workref.WorkRef`) started and not finished; the
reaper queues one again once its lease has lapsed."""


def job(job_id: str) -> str:
    """Hash holding one job: field ``job`` plus one ``r:<profile>`` field per rendition."""
    return f"{PREFIX}:job:{job_id}"


def job_live(job_id: str) -> str:
    """Hash of a job's live progress (``p:<profile>``, ``c:<profile>:<chunk>``), written
    without a transaction so that progress writers never conflict with anyone."""
    return f"{PREFIX}:job:{job_id}:live"


def chunk_cursor(job_id: str) -> str:
    """Counter: how many of a job's slices have been queued (the split-and-stitch window)."""
    return f"{PREFIX}:job:{job_id}:chunks-queued"


def lease(ref: WorkRef) -> str:
    """String naming the process doing a piece of work right now; expires unrenewed."""
    return f"{PREFIX}:lease:{ref}"


def reap_lock(ref: WorkRef) -> str:
    """Short-lived lock so that only one worker requeues a piece of abandoned work."""
    return f"{PREFIX}:reap:{ref}"


def worker(hostname: str) -> str:
    """JSON advertisement of one worker, kept alive by its heartbeat."""
    return f"{PREFIX}:worker:{hostname}"


def worker_disk_full(hostname: str) -> str:
    """Set (with a TTL) while a worker's disk is full: its pool processes pass work on."""
    return f"{PREFIX}:worker:{hostname}:disk-full"


def worker_tasks(hostname: str) -> str:
    """Set of the work refs a worker is doing now."""
    return f"{PREFIX}:worker:{hostname}:tasks"


RESUMABLE_EXPIRY = f"{PREFIX}:resumable:expiring"
"""Sorted set of unfinished resumable (tus) upload ids scored by when they expire."""


def resumable(upload_id: str) -> str:
    """Hash holding one resumable (tus) upload's record (field ``upload``, JSON)."""
    return f"{PREFIX}:resumable:{upload_id}"


def resumable_lock(upload_id: str) -> str:
    """Held while one PATCH appends to a resumable upload, so that two never interleave."""
    return f"{PREFIX}:resumable:{upload_id}:lock"


def idempotency(key: str) -> str:
    """String: the id of the job a caller's idempotency key created (no second job with it)."""
    return f"{PREFIX}:idempotency:{key}"
