"""The analyze step of a per-title job: sample the source, choose each rung's bitrate,
drop the rungs that add nothing, then send the encodes.

Safe to run twice (at-least-once tasks): only a job still ``analyzing`` is analyzed, and
the write that moves it to ``encoding`` happens once. When the samples cannot be made the
job is not lost: it is encoded with the fixed ladder, and its record says why.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from common.jobs import Job, Rendition
from common.pertitle import (
    CALIBRATION_RATE,
    RATE_POINTS,
    Calibration,
    PerTitle,
    RungAnalysis,
    choose_ladder,
)
from common.registry import list_workers
from common.states import JobState, RenditionState
from common.storage import StorageError, Workspace
from common.store import StaleUpdate
from common.workref import WorkRef
from workers.ffmpeg.commands import EncodeOptions
from workers.ffmpeg.probe import ProbeError, keyframes_before
from workers.ffmpeg.sampling import (
    Sample,
    SamplingFailed,
    SamplingStopped,
    analysis_preset,
    ideal_starts,
    run_samples,
    sample_plan,
    sample_windows,
)
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import layout, record
from workers.steps.dispatch import dispatch_encodes, mark_sent
from workers.steps.leased import JobWatch, run_leased_step, unsent_by_analysis

log = logging.getLogger(__name__)

SAMPLE_THREADS = 2
"""Encoder threads per sample when the settings leave x264's own choice (many small
encodes share one FFmpeg: more threads each only contend)."""
CANCEL_CHECK_S = 1.0


def _analyzed_rungs(job: Job) -> list[Rendition]:
    return [r for r in job.renditions if r.state != RenditionState.DONE and not r.passthrough]


def sample_job(ctx: WorkerContext, ws: Workspace, job: Job, per_title: PerTitle) -> PerTitle:
    """Encode and measure the samples of every rung (the source from the leased step's
    workspace); fill ``per_title`` with their points."""
    settings, source = ctx.settings, job.source
    assert source is not None
    rungs = _analyzed_rungs(job)
    plans = {r.profile: record.plan_of(r) for r in rungs}
    top = max(plans.values(), key=lambda p: p.height)
    with tempfile.TemporaryDirectory(prefix=f"analysis-{job.id}-", dir=_scratch(ctx)) as folder:
        source_file = ws.fetch(layout.source_key(job))
        starts, length = ideal_starts(source.duration, settings.segment_seconds)
        windows = sample_windows(source.duration, length,
                                 keyframes_before(source_file, starts, settings.ffprobe_bin,
                                                  settings.probe_timeout_s,
                                                  nice=settings.ffmpeg_nice))
        samples = []
        for rendition in rungs:
            encoder, preset = analysis_preset(rendition.video_codec)
            per_title.encoder, per_title.preset = encoder, preset
            samples += [Sample(rendition.profile, sample_plan(plans[rendition.profile], rate,
                                                             preset),
                               Path(folder) / f"{rendition.profile}-{index}.mp4")
                        for index, rate in enumerate(RATE_POINTS)]
        smallest = min(rungs, key=lambda r: plans[r.profile].height)
        plan = plans[smallest.profile]
        samples.append(Sample(smallest.profile, sample_plan(plan, CALIBRATION_RATE,
                                                            plan.profile.preset),
                              Path(folder) / f"{smallest.profile}-calibration.mp4",
                              calibration=True))
        options = EncodeOptions(settings.ffmpeg_bin, settings.x264_threads or SAMPLE_THREADS,
                                settings.segment_seconds, settings.max_source_pixels)
        points = run_samples(source_file, source, samples, windows, (top.width, top.height),
                             options, nice=settings.ffmpeg_nice,
                             on_tick=JobWatch(ctx, job.id, JobState.ANALYZING,
                                              every_s=CANCEL_CHECK_S),
                             timeout_s=settings.task_time_limit_s)
    per_title.windows = [[w.start_s, w.duration_s] for w in windows]
    *fast, (calibrated, own) = list(zip(samples, points, strict=True))
    per_title.rungs = [
        RungAnalysis(r.profile, plans[r.profile].height,
                     plans[r.profile].profile.video_bitrate_kbps,
                     [p for s, p in fast if s.rung == r.profile])
        for r in rungs]
    per_title.calibration = Calibration(calibrated.rung, calibrated.plan.profile.preset,
                                        own.kbps, own.ssim)
    return choose_ladder(per_title)


def _scratch(ctx: WorkerContext) -> Path:
    folder = ctx.settings.effective_scratch_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _apply_choice(job: Job, per_title: PerTitle) -> None:
    """Give each kept rung its chosen bitrate (peak and buffer scaled alike); take the
    dropped rungs out of the job."""
    dropped = {r.profile for r in per_title.rungs if r.dropped}
    job.renditions = [r for r in job.renditions if r.profile not in dropped]
    for rendition in job.renditions:
        rung = per_title.rung(rendition.profile)
        if rung is None or not rung.chosen_kbps or rendition.target is None:
            continue
        rendition.target = record.rescaled_target(rendition.target, rung.chosen_kbps)


def analyze_ladder(ctx: WorkerContext, job_id: str, task_id: str | None = None) -> str:
    """Analyze a per-title job under its lease, then send its encodes; return what happened.

    The lease makes a worker killed mid-analysis cost one lease period: the reaper queues
    the analysis again for another worker (the broker alone would wait for its visibility
    timeout)."""
    said, outcome, busy = run_leased_step(
        ctx, WorkRef.analysis(job_id), task_id,
        lambda ws, lease: _analyze(ctx, ws, job_id, lease))
    return said or ("busy" if busy else str(outcome))


def _analyze(ctx: WorkerContext, ws: Workspace, job_id: str, lease: Lease) -> str:
    job = ctx.store.get(job_id)
    if job is not None and unsent_by_analysis(job):  # its analyst died before sending them
        log.warning("job %s: analyzed, but its encodes were never sent; sending them", job_id)
        _send_encodes(ctx, job)
        return "analyzed"
    if job is None or job.state != JobState.ANALYZING or job.source is None:
        return "skipped"
    target = job.target_ssim or ctx.settings.target_ssim
    per_title = PerTitle(target, ctx.settings.ssim_tolerance)
    started = time.monotonic()
    try:
        layout.check_job(job)
        if _analyzed_rungs(job):
            per_title = sample_job(ctx, ws, job, per_title)
    except SamplingStopped:
        return "stopped"
    except (SamplingFailed, ProbeError, StorageError, layout.UnsafeRecord, OSError) as exc:
        reason = (f"its samples could not be written: {exc.strerror or exc}"
                  if isinstance(exc, OSError) else exc)
        log.warning("job %s: analysis failed, fixed ladder: %s", job_id, reason)
        per_title.note = (f"The analysis failed ({reason}); the job is encoded with the fixed "
                          "ladder.")
        per_title.rungs = []
    per_title.seconds = round(time.monotonic() - started, 2)

    def apply(job: Job) -> None:
        if job.state != JobState.ANALYZING:
            raise StaleUpdate(job.state)
        job.per_title = per_title
        job.state = JobState.ENCODING
        job.tasks_sent = False
        _apply_choice(job, per_title)

    try:
        job = ctx.store.update(job_id, apply, fence=lease.fence)
    except StaleUpdate:
        return "stopped"
    ctx.notify_job(job)
    kept = ", ".join(f"{r.profile} {r.chosen_kbps} kb/s" for r in per_title.kept)
    log.info("job %s: per-title ladder in %.1fs: %s", job_id, per_title.seconds, kept or "fixed")
    _send_encodes(ctx, job)
    return "analyzed"


def _send_encodes(ctx: WorkerContext, job: Job) -> None:
    dispatch_encodes(ctx, job, list_workers(ctx.redis, include_offline=False))
    mark_sent(ctx, job.id, unsent_by_analysis)
