"""The one encode skeleton that whole renditions and chunks both run.

Mark the attempt in the record, encode every target with one FFmpeg (one decode),
report progress and keep the leases, and turn every way an encode can end into the
record's terms: results, ``stopped``, or failed renditions with a sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from celery.exceptions import SoftTimeLimitExceeded

from common import keys
from common.jobs import Fallback, Job, Rendition
from common.states import RenditionState
from common.storage import StorageError, Workspace
from workers.ffmpeg.commands import EncodeOptions, Window
from workers.ffmpeg.encode import (
    EncodeFailed,
    EncodeResult,
    EncodeStopped,
    EncodeTarget,
    OutOfSpace,
    encode_group,
)
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.runtime.reporter import ProgressReporter
from workers.steps import layout, record
from workers.steps.leased import Outcome

log = logging.getLogger(__name__)


class AttemptEnded(Exception):
    """The attempt ended without results; ``outcome`` says how (already recorded)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


@dataclass(frozen=True)
class Attempt:
    """One encode of some renditions of a job: all of each, or one time slice of each."""

    job_id: str
    profiles: list[str]
    leases: dict[str, Lease]
    """The lease each rendition's reporter renews and each write is fenced by (a chunk's
    renditions share one)."""
    ws: Workspace
    codecs: list[str]
    chunk: int | None = None
    window: Window | None = None

    @property
    def what(self) -> str:
        return "" if self.chunk is None else f"chunk {self.chunk + 1} "


def begin(ctx: WorkerContext, job_id: str, profiles: list[str], leases: Mapping[str, Lease],
          chunk: int | None = None) -> tuple[Job, list[Rendition]]:
    """Count the attempt; return the job and the renditions now encoding."""
    mutation = record.start_attempt(ctx.settings.max_attempts, ctx.hostname, chunk)
    job = record.update_each(ctx, job_id, profiles, mutation, leases)
    ctx.notify_job(job)
    active = [job.rendition(p) for p in profiles
              if job.rendition(p).state == RenditionState.ENCODING]
    if not active or job.source is None:
        raise AttemptEnded(Outcome.FAILED)
    return job, active


def encode(ctx: WorkerContext, job: Job, attempt: Attempt,
           targets: list[EncodeTarget]) -> list[EncodeResult]:
    """Run the attempt's FFmpeg; failures are recorded and raise :class:`AttemptEnded`."""
    settings, source = ctx.settings, job.source
    assert source is not None
    duration = attempt.window.duration_s if attempt.window else source.duration
    reporter = ProgressReporter(ctx.store, ctx.emitter, job.id,
                                {p: attempt.leases[p] for p in attempt.profiles}, duration,
                                hz=settings.progress_hz, renew_every_s=settings.heartbeat_s,
                                chunk=attempt.chunk)

    def on_attempt(codec: str, fallbacks: list[Fallback]) -> None:
        mutation = record.record_attempt(codec, fallbacks, whole=attempt.chunk is None)
        ctx.notify_job(record.update_each(ctx, job.id, attempt.profiles, mutation,
                                          attempt.leases))

    try:
        source_file = attempt.ws.fetch(layout.source_key(job))
    except StorageError as exc:
        fail(ctx, job.id, attempt, str(exc))
    try:
        return encode_group(
            source_file, source, targets, attempt.codecs,
            options=EncodeOptions(settings.ffmpeg_bin, settings.x264_threads,
                                  settings.segment_seconds, settings.max_source_pixels),
            ffprobe_bin=settings.ffprobe_bin, nice=settings.ffmpeg_nice,
            on_progress=reporter.on_progress, on_tick=reporter.on_tick,
            on_attempt=on_attempt, window=attempt.window,
        )
    except EncodeStopped:
        log.info("%s %s%s stopped (canceled or taken over)", job.id, attempt.what,
                 ", ".join(attempt.profiles))
        raise AttemptEnded(Outcome.STOPPED) from None
    except OutOfSpace as exc:
        release_for_disk_space(ctx, job.id, attempt, str(exc))
    except EncodeFailed as exc:
        fail(ctx, job.id, attempt, str(exc), exc.fallbacks)
    except SoftTimeLimitExceeded:
        fail(ctx, job.id, attempt,
             f"The encode ran over the {settings.task_time_limit_s}s time limit.")


DISK_FULL_PAUSE_S = 60
"""How long a worker whose disk filled up passes every task on to other workers."""


def release_for_disk_space(ctx: WorkerContext, job_id: str, attempt: Attempt,
                           error: str) -> NoReturn:
    """Give the attempt's work back (the reaper queues it again at once, for any worker),
    and make this worker pass tasks on for a while: its disk, not the job, is the problem."""
    log.error("%s: %s", ctx.hostname, error)
    ctx.redis.set(keys.worker_disk_full(ctx.hostname), error, ex=DISK_FULL_PAUSE_S)
    sentence = f"{ctx.hostname}: {error} It is queued again for another worker."
    ctx.notify_job(record.update_each(ctx, job_id, attempt.profiles,
                                      record.released(sentence, attempt.chunk), attempt.leases))
    raise AttemptEnded(Outcome.RELEASED)


def fail(ctx: WorkerContext, job_id: str, attempt: Attempt, error: str,
         fallbacks: list[Fallback] | None = None) -> NoReturn:
    """Record the attempt's renditions failed and end the attempt."""
    if attempt.chunk is not None:
        job = ctx.store.get(job_id)
        count = job.rendition(attempt.profiles[0]).chunks if job else 0
        error = f"Chunk {attempt.chunk + 1} of {count} failed: {error}"
    ctx.notify_job(record.update_each(ctx, job_id, attempt.profiles,
                                      record.fail(error, fallbacks), attempt.leases))
    raise AttemptEnded(Outcome.FAILED)
