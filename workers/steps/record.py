"""What the encoding steps write to a rendition's record: attempts, results, failures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.jobs import AudioRendition, Fallback, Job, Rendition
from common.ladder import Profile, RenditionPlan
from common.states import RenditionState
from common.store import RenditionMutation
from common.tasknames import QUEUE_GPU
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import Variant
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease


def plan_of(rendition: Rendition) -> RenditionPlan:
    """The plan the planner stored in the rendition (its profile, size and passthrough)."""
    profile = Profile(**(rendition.target or {}))
    return RenditionPlan(profile, rendition.width or 0, rendition.height or 0,
                         rendition.passthrough)


def hardware_for(ctx: WorkerContext, rendition: Rendition) -> list[str]:
    """Hardware encoders to try: this worker's, for renditions routed to ``gpu`` only."""
    return ctx.hardware_encoders if rendition.queue == QUEUE_GPU else []


def update_each(ctx: WorkerContext, job_id: str, profiles: list[str],
                apply: RenditionMutation, leases: Mapping[str, Lease]) -> Job:
    """Apply ``apply`` to each rendition, each write fenced by that rendition's lease."""
    job: Job | None = None
    for profile in profiles:
        job = ctx.store.update_rendition(job_id, profile, apply, fence=leases[profile].fence)
    assert job is not None
    return job


def start_attempt(max_attempts: int, hostname: str, chunk: int | None = None
                  ) -> RenditionMutation:
    """Count an attempt (of the rendition, or of one of its chunks) and mark it encoding,
    or failed once out of attempts."""

    def apply(job: Job, rendition: Rendition) -> None:
        attempts = rendition.attempts if chunk is None else rendition.chunk_attempts[chunk]
        if attempts >= max_attempts:
            what = "" if chunk is None else f" on chunk {chunk + 1} of {rendition.chunks}"
            rendition.state = RenditionState.FAILED
            rendition.error = (f"Gave up{what} after {attempts} attempts: each one ended "
                               "without finishing (the worker process died or was killed).")
            return
        if chunk is None:
            rendition.attempts += 1
            rendition.percent = 0.0
        else:
            rendition.chunk_attempts[chunk] += 1
            if len(rendition.chunk_workers) != rendition.chunks:  # records older than the field
                rendition.chunk_workers = [None] * rendition.chunks
            rendition.chunk_workers[chunk] = hostname
            rendition.attempts = max(rendition.attempts, rendition.chunk_attempts[chunk])
        rendition.state = RenditionState.ENCODING
        rendition.worker = hostname
        rendition.error, rendition.eta_s = None, None

    return apply


def record_attempt(codec: str, fallbacks: list[Fallback], *, whole: bool) -> RenditionMutation:
    """Record the codec being tried (a whole rendition's bar starts again from 0)."""

    def apply(job: Job, rendition: Rendition) -> None:
        rendition.codec = codec
        if whole:
            rendition.fallbacks, rendition.percent = fallbacks, 0.0
        else:  # a slice's failures add to those of the rendition's other slices
            _merge_fallbacks(rendition, fallbacks)

    return apply


def _merge_fallbacks(rendition: Rendition, fallbacks: list[Fallback]) -> None:
    known = {(f.codec, f.error) for f in rendition.fallbacks}
    rendition.fallbacks += [f for f in fallbacks if (f.codec, f.error) not in known]


@dataclass
class Verdict:
    """What the check found for one rendition (stored on the rendition when it is done)."""

    ssim: float | None = None
    psnr: float | None = None
    missed_ssim: float | None = None
    reencoded_kbps: int | None = None
    note: str | None = None


def rescaled_target(target: dict[str, Any], kbps: int) -> dict[str, Any]:
    """A rendition's settings at another bitrate, its peak and buffer scaled alike."""
    scale = kbps / max(1, int(target["video_bitrate_kbps"]))
    return {**target, "video_bitrate_kbps": kbps, "crf": None,
            "maxrate_kbps": max(16, round(int(target["maxrate_kbps"]) * scale)),
            "bufsize_kbps": max(16, round(int(target["bufsize_kbps"]) * scale))}


def finish(result: EncodeResult, packaged: Variant | None, verdict: Verdict | None = None,
           audio: AudioRendition | None = None) -> RenditionMutation:
    """Record the rendition done with what its encode made (and the job's audio rendition,
    when its encode wrote that too)."""

    def apply(job: Job, rendition: Rendition) -> None:
        if verdict is not None:
            rendition.ssim, rendition.psnr = verdict.ssim, verdict.psnr
            rendition.missed_ssim, rendition.quality_note = verdict.missed_ssim, verdict.note
            rendition.reencoded_kbps = verdict.reencoded_kbps
            if verdict.reencoded_kbps and rendition.target:  # what the file was encoded at
                rendition.target = rescaled_target(rendition.target, verdict.reencoded_kbps)
        rendition.playlist = packaged.playlist if packaged else None
        rendition.bandwidth = packaged.bandwidth if packaged else None
        rendition.average_bandwidth = packaged.average_bandwidth if packaged else None
        rendition.codecs = packaged.codecs if packaged else None
        rendition.audio = audio
        rendition.state = RenditionState.DONE
        rendition.percent, rendition.eta_s = 100.0, 0.0
        rendition.codec, rendition.fallbacks = result.codec, result.fallbacks
        rendition.passthrough = result.passthrough
        rendition.width, rendition.height = result.width, result.height
        rendition.output, rendition.size_bytes = result.output.name, result.size_bytes
        rendition.ffmpeg_s = result.ffmpeg_s

    return apply


def fail(error: str, fallbacks: list[Fallback] | None = None) -> RenditionMutation:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.state = RenditionState.FAILED
        rendition.error, rendition.eta_s = error, None
        if fallbacks is not None:
            rendition.fallbacks = fallbacks

    return apply


def chunk_encoded(index: int, results: dict[str, EncodeResult]) -> RenditionMutation:
    """Mark slice ``index`` of each rendition in ``results`` encoded, with its codec."""

    def apply(job: Job, rendition: Rendition) -> None:
        result = results[rendition.profile]
        rendition.set_chunk_percent(index, 100.0)
        rendition.codec = result.codec
        _merge_fallbacks(rendition, result.fallbacks)

    return apply


def requeued(queue: str) -> RenditionMutation:
    """Put a rendition whose worker died back to queued (the reaper's write)."""

    def apply(job: Job, rendition: Rendition) -> None:
        if rendition.state == RenditionState.ENCODING:  # else: released, and it says why
            rendition.error = f"Its worker {rendition.worker} stopped; queued again."
        rendition.state, rendition.queue, rendition.percent = RenditionState.QUEUED, queue, 0.0

    return apply


def released(reason: str, chunk: int | None) -> RenditionMutation:
    """Give the work back for another worker (this one cannot do it now), saying why."""

    def apply(job: Job, rendition: Rendition) -> None:
        rendition.error, rendition.eta_s = reason, None
        if chunk is None:
            rendition.state, rendition.percent = RenditionState.QUEUED, 0.0
        else:  # the other slices may be running elsewhere; this one is encoded again
            rendition.set_chunk_percent(chunk, 0.0)

    return apply


def chunk_requeued(index: int) -> RenditionMutation:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.set_chunk_percent(index, 0.0)

    return apply
