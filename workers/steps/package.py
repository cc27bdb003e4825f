"""Packaging steps: HLS segments per finished rendition and the job's master playlist."""

from __future__ import annotations

from common.codecs import family_of
from common.jobs import Job, Rendition
from common.storage import Guard, Workspace
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import Variant, package_rendition, variant, write_master
from workers.runtime.context import WorkerContext
from workers.steps import layout


def package_hls(ctx: WorkerContext, ws: Workspace, job: Job, profiles: list[str],
                results: list[EncodeResult], guards: dict[str, Guard]) -> list[Variant | None]:
    """Cut each finished rendition into HLS segments when the job asks for HLS (unless its
    encode already wrote them), publish the segments and measure each packaged rendition
    for the master playlist."""
    if not job.hls or job.source is None:
        return [None] * len(results)
    settings, job_dir = ctx.settings, ws.path(layout.job_key(job.id))
    packaged: list[Variant | None] = []
    for profile, result in zip(profiles, results, strict=True):
        if result.segments is not None:  # the encode wrote them beside the MP4
            playlist = layout.playlist_name(profile)
        else:
            playlist = package_rendition(
                result.output, job_dir, layout.checked(profile, "profile"),
                settings.segment_seconds, settings.ffmpeg_bin, nice=settings.ffmpeg_nice,
                video_tag=family_of(job.rendition(profile).video_codec).mp4_tag)
        packaged.append(variant(job_dir, playlist, result.output, result.width, result.height,
                                job.source.fps, settings.ffprobe_bin))
        ws.publish_tree(layout.hls_key(job.id, profile), guards[profile])
    return packaged


def _variant_of(ctx: WorkerContext, ws: Workspace, job: Job, rendition: Rendition) -> Variant:
    """The rendition's line, from its record (or measured, for records older than that)."""
    fps = job.source.fps if job.source else 0.0
    if rendition.bandwidth is not None and rendition.codecs is not None:
        return Variant(str(rendition.playlist), rendition.bandwidth,
                       rendition.average_bandwidth or rendition.bandwidth, rendition.width or 0,
                       rendition.height or 0, rendition.codecs, fps)
    return variant(ws.path(layout.job_key(job.id)), layout.playlist_name(rendition.profile),
                   ws.fetch(layout.rendition_key(job.id, rendition)), rendition.width or 0,
                   rendition.height or 0, fps, ctx.settings.ffprobe_bin)


def write_master_playlist(ctx: WorkerContext, ws: Workspace, job: Job,
                          finished: list[Rendition]) -> str | None:
    """Write and publish the job's HLS master playlist over every packaged rendition."""
    packaged = [r for r in finished if r.playlist]
    if not packaged or job.source is None:
        return None
    job_dir = ws.path(layout.job_key(job.id))
    (job_dir / layout.HLS_DIR).mkdir(parents=True, exist_ok=True)
    master = write_master(job_dir, [_variant_of(ctx, ws, job, r) for r in packaged])
    ws.publish(layout.job_key(job.id, master))
    return master
