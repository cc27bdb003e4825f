"""Every Redis key and channel ffcluster uses, in one place."""

from __future__ import annotations

PREFIX = "ffc"

JOB_INDEX = f"{PREFIX}:jobs"
"""Sorted set of job ids scored by creation time."""

WORKER_INDEX = f"{PREFIX}:workers"
"""Set of worker hostnames that have ever announced themselves."""

METRICS = f"{PREFIX}:metrics"
"""Hash of counters that workers increment for the web tier's /metrics."""

SOCKETIO_CHANNEL = f"{PREFIX}:socketio"
"""Pub/sub channel that carries Socket.IO emits from workers to every web process."""


def job(job_id: str) -> str:
    """Hash holding one job: field ``job`` plus one ``r:<profile>`` field per rendition."""
    return f"{PREFIX}:job:{job_id}"


def lease(job_id: str, profile: str) -> str:
    """String naming the worker that is encoding a rendition right now; expires unrenewed."""
    return f"{PREFIX}:lease:{job_id}:{profile}"


def worker(hostname: str) -> str:
    """JSON advertisement of one worker, kept alive by its heartbeat."""
    return f"{PREFIX}:worker:{hostname}"


def worker_tasks(hostname: str) -> str:
    """Set of ``job_id/profile`` a worker is encoding now."""
    return f"{PREFIX}:worker:{hostname}:tasks"

ACTIVE_RENDITIONS = f"{PREFIX}:active"
"""Set of work refs a worker has started and not finished, reaped when their lease lapses:
``job_id/profile`` (a rendition), ``job_id/#3`` (chunk 3), ``job_id/~profile`` (a stitch)."""


def reap_lock(job_id: str, profile: str) -> str:
    """Short-lived lock so that only one worker requeues an abandoned rendition."""
    return f"{PREFIX}:reap:{job_id}:{profile}"
