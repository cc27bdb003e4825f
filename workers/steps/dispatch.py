"""Send a planned job's encodes: whole renditions fused per worker, or its first slices."""

from __future__ import annotations

import logging
from collections.abc import Callable

from common import keys
from common.jobs import AudioTrack, Job, Rendition
from common.registry import WorkerInfo
from common.states import RenditionState
from common.tasknames import (
    ENCODE_AUDIO,
    ENCODE_CHUNK,
    ENCODE_RENDITIONS,
    FINALIZE_JOB,
    QUEUE_CPU,
)
from workers.runtime.context import WorkerContext
from workers.steps.slices import initial_window

log = logging.getLogger(__name__)

CURSOR_TTL_S = 7 * 24 * 3600


def dispatch_encodes(ctx: WorkerContext, job: Job, online: list[WorkerInfo]) -> list[str]:
    """Enqueue every rendition not done yet (or the finalize when none is left); return
    the profiles enqueued."""
    settings = ctx.settings
    pending = [r for r in job.renditions if r.state != RenditionState.DONE]
    _send_whole(ctx, job, [r for r in pending if not r.chunks], online)
    chunked = [r for r in pending if r.chunks]
    if chunked:
        queue = chunked[0].queue or QUEUE_CPU
        if job.audio_track == AudioTrack.PENDING:  # first, so no stitch waits on it
            ctx.send(ENCODE_AUDIO, [job.id], queue=QUEUE_CPU)
        window = initial_window(chunked[0].chunks, settings)
        ctx.redis.set(keys.chunk_cursor(job.id), window, ex=CURSOR_TTL_S)
        for index in range(window):  # the rest follow one by one as slices end
            ctx.send(ENCODE_CHUNK, [job.id, index], queue=queue)
    if not pending:
        ctx.send(FINALIZE_JOB, [job.id])
    log.info("job %s: %s", job.id, ", ".join(f"{r.profile} on {r.queue}" for r in pending)
             or "nothing to encode")
    return [r.profile for r in pending]


def mark_sent(ctx: WorkerContext, job_id: str, unsent: Callable[[Job], bool]) -> None:
    """Record that the tasks a step's change called for are on their queues (only while
    ``unsent`` still says they were that step's to send)."""
    def sent(job: Job) -> None:
        if unsent(job):
            job.tasks_sent = True

    try:
        ctx.store.update(job_id, sent)
    except KeyError:
        log.info("job %s was deleted while its tasks were sent", job_id)


def _send_whole(ctx: WorkerContext, job: Job, whole: list[Rendition],
                online: list[WorkerInfo]) -> None:
    """Send the unchunked renditions, fused per codec, each group on its codec's queue."""
    for queue in dict.fromkeys(r.queue or QUEUE_CPU for r in whole):
        on_queue = [r for r in whole if (r.queue or QUEUE_CPU) == queue]
        consumers = sum(1 for w in online if queue in w.queues)
        for group in group_renditions(on_queue, consumers, ctx.settings.fuse_renditions):
            ctx.send(ENCODE_RENDITIONS, [job.id, group], queue=queue)


def group_renditions(renditions: list[Rendition], workers: int, fuse: bool) -> list[list[str]]:
    """Split renditions into one group per worker, balanced by pixels, each one FFmpeg.

    Stream copies stay alone (they need no decode), and a group holds one codec (one
    encoder chain); without ``fuse`` every rendition is its own group.
    """
    copies = [[r.profile] for r in renditions if r.passthrough]
    encodes = sorted((r for r in renditions if not r.passthrough),
                     key=lambda r: (r.width or 0) * (r.height or 0), reverse=True)
    if not fuse:
        return copies + [[r.profile] for r in encodes]
    groups: list[list[str]] = []
    for codec in dict.fromkeys(r.video_codec for r in encodes):
        groups += _balanced([r for r in encodes if r.video_codec == codec], workers)
    return copies + groups


def _balanced(encodes: list[Rendition], workers: int) -> list[list[str]]:
    count = max(1, min(workers, len(encodes)))
    groups: list[list[Rendition]] = [[] for _ in range(count)]
    for rendition in encodes:
        lightest = min(groups, key=lambda g: sum((r.width or 0) * (r.height or 0) for r in g))
        lightest.append(rendition)
    return [[r.profile for r in group] for group in groups if group]
