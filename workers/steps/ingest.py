"""The ingest step: fetch a job's source from its URL into storage, then send the probe.

Safe to run twice (tasks are at-least-once): a source already stored is not fetched
again, and a second copy racing the first writes the same bytes to the same key through
a writer that publishes whole or not at all.
"""

from __future__ import annotations

import logging
import time

from common.jobs import Job
from common.states import JobState
from common.storage import StorageError, Workspace
from common.store import StaleUpdate
from common.tasknames import PROBE_JOB
from common.workref import WorkRef
from workers.ingest.bucket import fetch_object
from workers.ingest.fetch import IngestFailed, Limits, fetch_url
from workers.ingest.guard import AddressPolicy, IngestError
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import layout
from workers.steps.dispatch import mark_sent
from workers.steps.finalize import fail_job
from workers.steps.leased import ingest_open, run_leased_step, unsent_by_ingest

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5


class IngestStopped(Exception):
    """The job left ``ingesting`` (a user canceled it) while its source was fetched."""


class _Progress:
    """Records the bytes fetched, at most twice a second, and stops a fetch whose job was
    canceled meanwhile (by raising :class:`IngestStopped` from the sink's side)."""

    def __init__(self, ctx: WorkerContext, job_id: str) -> None:
        self.ctx, self.job_id, self.last = ctx, job_id, 0.0

    def __call__(self, received: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now

        def apply(job: Job) -> None:
            if job.state != JobState.INGESTING:
                raise IngestStopped(job.state)
            job.ingest_bytes, job.ingest_total = received, total

        try:
            self.ctx.notify_job(self.ctx.store.update(self.job_id, apply))
        except StaleUpdate:
            raise IngestStopped(self.job_id) from None


def _fetch(ctx: WorkerContext, job: Job) -> int:
    """Fetch ``job.source_url`` into the job's source key; return its size."""
    settings, url = ctx.settings, str(job.source_url)
    limits = Limits(settings.max_upload_mb * 1024 * 1024,
                    time.monotonic() + settings.ingest_timeout_s)
    writer = ctx.storage.writer(layout.source_key(job))
    try:
        if url.startswith("s3://"):
            client = getattr(ctx.storage, "client", None)
            if client is None:
                raise IngestFailed("s3:// sources need FFCLUSTER_STORAGE=s3 (the cluster's "
                                   "bucket credentials).")
            size = fetch_object(client, url, writer.write, limits, _Progress(ctx, job.id))
        else:
            size = fetch_url(url, AddressPolicy(settings.ingest_networks), writer.write, limits,
                             _Progress(ctx, job.id))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return size


def ingest_source(ctx: WorkerContext, job_id: str, task_id: str | None = None) -> str:
    """Fetch the source of a URL job under its ingest lease and hand the job to the probe;
    return what happened. A worker killed mid-fetch, or after storing the source but before
    sending the probe, leaves the ingest to the reaper instead of stranding the job."""
    said, outcome, _busy = run_leased_step(
        ctx, WorkRef.ingest(job_id), task_id,
        lambda ws, lease: _ingest(ctx, ws, job_id, lease))
    return said or str(outcome)


def _ingest(ctx: WorkerContext, ws: Workspace, job_id: str, lease: Lease) -> str:
    job = ctx.store.get(job_id)
    if job is None or not ingest_open(job):
        return "skipped"
    try:
        layout.check_job(job)
        if ctx.storage.exists(layout.source_key(job)):
            # stored by a copy of this task that died before recording it: measure it
            size = job.size_bytes or ws.fetch(layout.source_key(job)).stat().st_size
        else:
            ctx.notify_job(ctx.store.set_state(job_id, JobState.INGESTING))
            size = _fetch(ctx, job)
    except (IngestStopped, StaleUpdate):
        log.info("job %s left ingesting; the fetch was stopped", job_id)
        return "stopped"
    except (IngestError, layout.UnsafeRecord) as exc:
        fail_job(ctx, job_id, str(exc))
        return "failed"
    except StorageError as exc:
        fail_job(ctx, job_id, f"The fetched source could not be stored: {exc}")
        return "failed"
    except OSError as exc:  # the data dir's disk (the network's failures are IngestFailed)
        fail_job(ctx, job_id, f"The fetched source could not be stored ({exc.strerror or exc}).")
        return "failed"

    def fetched(job: Job) -> None:
        job.state, job.size_bytes, job.ingest_bytes = JobState.QUEUED, size, size
        job.tasks_sent = False

    try:
        job = ctx.store.update(job_id, fetched, fence=lease.fence)
    except StaleUpdate:
        return "stopped"
    log.info("job %s: fetched %d bytes from its source URL", job_id, size)
    ctx.notify_job(job)
    ctx.send(PROBE_JOB, [job_id])
    mark_sent(ctx, job_id, unsent_by_ingest)
    return "fetched"
