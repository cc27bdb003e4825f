"""The per-title check of a finished rendition, before it is published: measure its SSIM,
and when it misses the job's target by more than the tolerance, encode it again once at a
corrected bitrate (the samples' fit moved through what was measured)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from common.jobs import Job
from common.ladder import Profile
from common.pertitle import LadderMode, corrected_kbps, misses
from workers.ffmpeg.encode import EncodeResult, EncodeTarget, codec_chain
from workers.ffmpeg.quality import Measured, Score, measure_qualities
from workers.runtime.context import WorkerContext
from workers.steps import attempt as attempts
from workers.steps import layout, record
from workers.steps.record import Verdict

log = logging.getLogger(__name__)


def needs_check(job: Job) -> bool:
    return job.ladder == LadderMode.PER_TITLE and job.per_title is not None \
        and bool(job.per_title.rungs)


def _measure(ctx: WorkerContext, source_file: Path,
             results: list[EncodeResult]) -> list[Score | None]:
    """Every result's SSIM and PSNR, from one FFmpeg that decodes the source once."""
    settings = ctx.settings
    return measure_qualities([Measured(r.output, r.width, r.height) for r in results],
                             source_file, settings.ffmpeg_bin, settings.ffmpeg_nice,
                             settings.max_source_pixels)


def check_results(ctx: WorkerContext, job: Job, attempt: attempts.Attempt,
                  results: list[EncodeResult]) -> tuple[list[EncodeResult], dict[str, Verdict]]:
    """Measure every result of a per-title job; encode a miss again once. Returns the
    results to publish (a corrected one in place of its miss) and each one's verdict."""
    if not needs_check(job) or job.per_title is None:
        return results, {}
    source_file = attempt.ws.fetch(layout.source_key(job))
    checked, verdicts = [], {}
    scores = _measure(ctx, source_file, results)
    for profile, result, score in zip(attempt.profiles, results, scores, strict=True):
        verdict = Verdict()
        if score is None:
            verdict.note = "Its quality could not be measured (see the worker's log)."
            checked.append(result)
            verdicts[profile] = verdict
            continue
        verdict.ssim, verdict.psnr = score
        result = _correct_miss(ctx, job, attempt, profile, result, source_file, verdict)
        checked.append(result)
        verdicts[profile] = verdict
    return checked, verdicts


def _correct_miss(ctx: WorkerContext, job: Job, attempt: attempts.Attempt, profile: str,
                  result: EncodeResult, source_file: Path, verdict: Verdict) -> EncodeResult:
    """Encode the rendition again at a corrected rate when it missed; fill the verdict."""
    per_title = job.per_title
    rung = per_title.rung(profile) if per_title else None
    if per_title is None or rung is None or verdict.ssim is None or not misses(
            verdict.ssim, per_title.target_ssim, per_title.tolerance):
        return result
    rendition = job.rendition(profile)
    plan = record.plan_of(rendition)
    chosen = plan.profile.video_bitrate_kbps
    rate = corrected_kbps(rung, verdict.ssim, per_title.target_ssim, chosen)
    if rate is None:
        verdict.note = (f"Measured SSIM {verdict.ssim:.4f}, under the target "
                        f"{per_title.target_ssim:.4f}, at its profile's cap of {chosen} kb/s: "
                        "the cap wins.")
        return result
    corrected = replace(plan, profile=Profile(**record.rescaled_target(plan.profile.to_dict(),
                                                                       rate)))
    log.info("job %s/%s: SSIM %.4f misses %.4f; encoding again at %d kb/s", job.id, profile,
             verdict.ssim, per_title.target_ssim, rate)
    again = attempts.Attempt(job.id, [profile], {profile: attempt.leases[profile]}, attempt.ws,
                             codec_chain(corrected, record.hardware_for(ctx, rendition)))
    [redone] = attempts.encode(ctx, job, again,
                               [EncodeTarget(corrected, result.output, result.segments,
                                             result.audio_segments)])
    verdict.missed_ssim, verdict.reencoded_kbps = verdict.ssim, rate
    [score] = _measure(ctx, source_file, [redone])
    verdict.ssim, verdict.psnr = score if score is not None else (None, None)
    still = verdict.ssim is not None and misses(verdict.ssim, per_title.target_ssim,
                                                per_title.tolerance)
    verdict.note = (f"Measured SSIM {verdict.missed_ssim:.4f} at {chosen} kb/s, under the target "
                    f"{per_title.target_ssim:.4f}; encoded again at {rate} kb/s"
                    + (f", which still measures {verdict.ssim:.4f}." if still and verdict.ssim
                       else "."))
    return redone
