"""The one lease-guarded wrapper that every step but finalize runs its work in."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from enum import StrEnum
from typing import Any, TypeVar

from common import keys
from common.jobs import AudioTrack, Job, Rendition
from common.states import JobState
from common.storage import Workspace
from common.store import StaleUpdate
from common.tasknames import (
    ANALYZE_LADDER,
    ENCODE_AUDIO,
    ENCODE_CHUNK,
    ENCODE_RENDITION,
    INGEST_SOURCE,
    PROBE_JOB,
    QUEUE_CPU,
    STITCH_RENDITION,
)
from common.workref import WorkKind, WorkRef
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease, LeaseKeeper, held
from workers.steps.finalize import fail_job
from workers.steps.layout import UnsafeRecord

log = logging.getLogger(__name__)


PASS_ON_DELAY_S = 0.5


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    """Canceled, or taken over by another worker: nothing was published."""
    SKIPPED = "skipped"
    """Nothing left to do (a late duplicate)."""
    BUSY = "busy"
    """Another live worker holds the lease: it does the work, or the reaper requeues it."""
    RELEASED = "released"
    """Given back for another worker (this one's disk is full); the reaper requeues it."""
    PASSED_ON = "passed on"
    """Not started here (this worker's disk is full): the task was sent to the queue again."""


PLANNING = (JobState.QUEUED, JobState.PROBING)


def unsent_by_ingest(job: Job) -> bool:
    """Whether the ingest stored the source but its worker died before sending the probe."""
    return bool(job.source_url) and job.state == JobState.QUEUED and not job.tasks_sent


def ingest_open(job: Job) -> bool:
    """Whether a URL job's source still has to be fetched (or its probe sent)."""
    if not job.source_url:
        return False
    return job.state == JobState.INGESTING or (
        job.state == JobState.QUEUED and (job.size_bytes == 0 or not job.tasks_sent))


def unsent_by_plan(job: Job) -> bool:
    """Whether the plan moved the job on but a worker killed at once never sent its next
    tasks (the analysis, or the encodes of a fixed ladder)."""
    return (not job.tasks_sent and job.per_title is None
            and job.state in (JobState.ANALYZING, JobState.ENCODING))


def unsent_by_analysis(job: Job) -> bool:
    """Whether the analysis chose the ladder but its worker died before sending the encodes."""
    return not job.tasks_sent and job.per_title is not None and job.state == JobState.ENCODING


def work_open(job: Job | None, ref: WorkRef) -> bool:
    """Whether the work ``ref`` names still needs doing, by the job record."""
    if job is None or job.terminal:
        return False
    if ref.kind == WorkKind.INGEST:
        return ingest_open(job)
    if ref.kind == WorkKind.PLAN:
        return job.state in PLANNING or unsent_by_plan(job)
    if ref.kind == WorkKind.ANALYSIS:
        return job.state == JobState.ANALYZING or unsent_by_analysis(job)
    if ref.kind == WorkKind.AUDIO:
        return job.state == JobState.ENCODING and job.audio_track == AudioTrack.PENDING
    if ref.kind == WorkKind.CHUNK:
        return any(r.chunk_open(int(ref.index or 0)) for r in job.renditions)
    if ref.profile not in {r.profile for r in job.renditions}:
        return False
    rendition = job.rendition(str(ref.profile))
    if rendition.terminal:
        return False
    return ref.kind != WorkKind.STITCH or stitch_ready(job, rendition)


def stitch_ready(job: Job, rendition: Rendition) -> bool:
    """Whether a chunked rendition can be joined: every slice encoded, the audio too."""
    return rendition.chunks_encoded and job.audio_track != AudioTrack.PENDING


def task_for(job: Job, ref: WorkRef, queue: str | None = None) -> tuple[str, list[Any], str]:
    """The task (name, args, queue) that does the work ``ref`` names: the reaper and a
    worker passing work on both send it."""
    if ref.kind == WorkKind.INGEST:
        return INGEST_SOURCE, [job.id], queue or QUEUE_CPU
    if ref.kind == WorkKind.PLAN:
        return PROBE_JOB, [job.id], queue or QUEUE_CPU
    if ref.kind == WorkKind.ANALYSIS:
        return ANALYZE_LADDER, [job.id], queue or QUEUE_CPU
    if ref.kind == WorkKind.AUDIO:
        return ENCODE_AUDIO, [job.id], queue or QUEUE_CPU
    if ref.kind == WorkKind.CHUNK:
        index = int(ref.index or 0)
        chunked = [r for r in job.renditions if r.chunk_open(index)] or job.renditions
        return ENCODE_CHUNK, [job.id, index], queue or chunked[0].queue or QUEUE_CPU
    rendition = job.rendition(str(ref.profile))
    name = STITCH_RENDITION if ref.kind == WorkKind.STITCH else ENCODE_RENDITION
    return name, [job.id, rendition.profile], queue or rendition.queue or QUEUE_CPU


class JobWatch:
    """FFmpeg's tick for a step that reports no progress: says stop (False) once the job
    left ``state`` (a user canceled it), reading the record at most once every ``every_s``
    (the step's :class:`LeaseKeeper` renews its lease meanwhile)."""

    def __init__(self, ctx: WorkerContext, job_id: str, state: JobState,
                 every_s: float = 1.0) -> None:
        self.ctx, self.job_id, self.state = ctx, job_id, state
        self.every_s, self.checked, self.ok = every_s, 0.0, True

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= self.every_s:
            self.checked = now
            job = self.ctx.store.get(self.job_id)
            self.ok = job is not None and job.state == self.state
        return self.ok


Work = Callable[[Workspace, dict[WorkRef, Lease]], Outcome]
"""A step's work: given the task's workspace and the leases it took."""


def run_leased(ctx: WorkerContext, refs: list[WorkRef], task_id: str | None, work: Work,
               *, then: Callable[[], None], can_pass_on: bool = True
               ) -> tuple[Outcome, list[WorkRef]]:
    """Take the lease of every open ref, run ``work`` with those taken, then run ``then``.

    Returns the outcome and the refs another live worker holds (left to it). A step that
    finds the record moved on under it (:class:`StaleUpdate`) ends ``stopped``. A task
    interrupted from outside leaves its refs listed for the reaper.
    """
    job = ctx.store.get(refs[0].job_id)
    if job is None or job.terminal:
        return Outcome.SKIPPED, []
    if can_pass_on and ctx.redis.exists(keys.worker_disk_full(ctx.hostname)):
        time.sleep(PASS_ON_DELAY_S)  # a rate limit while no worker has room, not a wait
        for ref in refs:  # another worker takes each from the queue
            if work_open(job, ref):
                name, args, queue = task_for(job, ref)
                ctx.send(name, args, queue=queue)
        return Outcome.PASSED_ON, []
    open_refs = [ref for ref in refs if work_open(job, ref)]
    leases: dict[WorkRef, Lease] = {}
    busy: list[WorkRef] = []
    try:
        if not open_refs:
            return Outcome.SKIPPED, []
        with ExitStack() as stack:
            for ref in open_refs:
                lease = stack.enter_context(held(
                    ctx.redis, ref, ctx.hostname, task_id, ctx.settings.lease_s,
                    still_open=lambda ref=ref: work_open(ctx.store.get(ref.job_id), ref)))
                if lease is None:
                    busy.append(ref)
                else:
                    leases[ref] = lease
            if not leases:
                return Outcome.BUSY, busy
            ws = stack.enter_context(ctx.storage.workspace())
            stack.enter_context(LeaseKeeper(list(leases.values()), ctx.settings.heartbeat_s))
            try:
                return work(ws, leases), busy
            except StaleUpdate:
                return Outcome.STOPPED, busy
            except UnsafeRecord as exc:
                log.error("job %s: %s", refs[0].job_id, exc)
                fail_job(ctx, refs[0].job_id, str(exc))
                return Outcome.FAILED, busy
    finally:
        then()


T = TypeVar("T")


def run_leased_step(ctx: WorkerContext, ref: WorkRef, task_id: str | None,
                    step: Callable[[Workspace, Lease], T], *,
                    then: Callable[[], None] = lambda: None
                    ) -> tuple[T | None, Outcome, list[WorkRef]]:
    """Run ``step`` under the lease of one ref (:func:`run_leased`); return what it returned
    (None when it did not run), the outcome and the refs another live worker holds."""
    results: list[T] = []

    def work(ws: Workspace, leases: dict[WorkRef, Lease]) -> Outcome:
        results.append(step(ws, leases[ref]))
        return Outcome.DONE

    outcome, busy = run_leased(ctx, [ref], task_id, work, then=then)
    return (results[0] if results else None), outcome, busy
