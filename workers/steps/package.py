"""Packaging steps: HLS segments per finished rendition and the job's master playlist."""

from __future__ import annotations

from common.jobs import Job, Rendition
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import package_rendition, variant, write_master
from workers.runtime.context import WorkerContext
from workers.steps import layout


def package_hls(ctx: WorkerContext, job: Job, profiles: list[str],
                results: list[EncodeResult]) -> list[str | None]:
    """Cut each finished rendition into HLS segments when the job asks for HLS."""
    if not job.hls:
        return [None] * len(results)
    settings = ctx.settings
    return [package_rendition(result.output, layout.job_dir(settings, job.id),
                              layout.checked(profile, "profile name"),
                              settings.segment_seconds, settings.ffmpeg_bin)
            for profile, result in zip(profiles, results, strict=True)]


def write_master_playlist(ctx: WorkerContext, job: Job, finished: list[Rendition]) -> str | None:
    """Write the job's HLS master playlist over every packaged rendition."""
    packaged = [r for r in finished if r.playlist]
    if not packaged or job.source is None:
        return None
    job_dir = layout.job_dir(ctx.settings, job.id)
    variants = [variant(job_dir, layout.playlist_name(r.profile),
                        layout.output_path(ctx.settings, job.id, r),
                        r.width or 0, r.height or 0, job.source.fps, ctx.settings.ffprobe_bin)
                for r in packaged]
    return write_master(job_dir, variants)
