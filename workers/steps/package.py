"""Packaging steps: CMAF segments per finished rendition, then the job's audio rendition,
HLS master playlist and DASH manifest."""

from __future__ import annotations

from dataclasses import dataclass

from common.codecs import family_of
from common.jobs import AudioRendition, Job, Rendition, audio_rank
from common.ladder import AUDIO_RENDITION
from common.storage import Guard, Workspace
from workers.ffmpeg.dash import write_mpd
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import (
    Variant,
    audio_rendition,
    package_audio,
    package_rendition,
    variant,
    write_master,
)
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
                                job.source.fps, settings.ffprobe_bin, settings.ffmpeg_nice,
                                result.codecs))
        ws.publish_tree(layout.hls_key(job.id, profile), guards[profile])
    return packaged


def publish_audio(ctx: WorkerContext, ws: Workspace, job: Job, result: EncodeResult,
                  guard: Guard) -> AudioRendition | None:
    """Publish the job's audio rendition if ``result``'s encode wrote it; return it measured
    for the record (the finalize step then writes it into the manifests as it is)."""
    if result.audio_segments is None or result.audio is None:
        return None
    ws.publish_tree(layout.hls_key(job.id, AUDIO_RENDITION), guard)
    return audio_rendition(ws.path(layout.job_key(job.id)),
                           layout.playlist_name(AUDIO_RENDITION), ctx.settings.ffprobe_bin,
                           audio=result.audio)


def _variant_of(ctx: WorkerContext, ws: Workspace, job: Job, rendition: Rendition) -> Variant:
    """The rendition's line, from its record (or measured, for records older than that)."""
    fps = job.source.fps if job.source else 0.0
    if rendition.bandwidth is not None and rendition.codecs is not None:
        return Variant(str(rendition.playlist), rendition.bandwidth,
                       rendition.average_bandwidth or rendition.bandwidth, rendition.width or 0,
                       rendition.height or 0, rendition.codecs, fps)
    return variant(ws.path(layout.job_key(job.id)), layout.playlist_name(rendition.profile),
                   ws.fetch(layout.rendition_key(job.id, rendition)), rendition.width or 0,
                   rendition.height or 0, fps, ctx.settings.ffprobe_bin,
                   ctx.settings.ffmpeg_nice)


@dataclass(frozen=True)
class Manifests:
    """What the finalize step records: the HLS master playlist and the DASH manifest."""

    master_playlist: str | None = None
    dash_manifest: str | None = None


def _audio(ctx: WorkerContext, ws: Workspace, job: Job,
           packaged: list[Rendition]) -> AudioRendition | None:
    """The job's audio rendition: as an encode wrote and recorded it, or else packaged now
    from its tallest finished rendition (copy)."""
    if job.source is None or not job.source.has_audio:
        return None
    written = next((r.audio for r in packaged if r.audio is not None
                    and r.audio.playlist == layout.playlist_name(AUDIO_RENDITION)), None)
    if written is not None:  # the MPD's timeline comes from its playlist
        ws.fetch(layout.job_key(job.id, written.playlist))
        return written
    top = max(packaged, key=audio_rank)
    settings = ctx.settings
    playlist = package_audio(ws.fetch(layout.rendition_key(job.id, top)),
                             ws.path(layout.job_key(job.id)), settings.segment_seconds,
                             settings.ffmpeg_bin, nice=settings.ffmpeg_nice)
    ws.publish_tree(layout.hls_key(job.id, AUDIO_RENDITION))
    return audio_rendition(ws.path(layout.job_key(job.id)), playlist, settings.ffprobe_bin,
                           settings.ffmpeg_nice)


def write_manifests(ctx: WorkerContext, ws: Workspace, job: Job,
                    finished: list[Rendition]) -> Manifests:
    """Package the audio, then write and publish the HLS master playlist and the DASH
    manifest over every packaged rendition (the same segments serve both)."""
    packaged = [r for r in finished if r.playlist]
    if not packaged or job.source is None:
        return Manifests()
    job_dir = ws.path(layout.job_key(job.id))
    (job_dir / layout.HLS_DIR).mkdir(parents=True, exist_ok=True)
    for rendition in packaged:  # the MPD's timelines come from the media playlists
        ws.fetch(layout.job_key(job.id, layout.playlist_name(rendition.profile)))
    variants = [_variant_of(ctx, ws, job, r) for r in packaged]
    audio = _audio(ctx, ws, job, packaged)
    master = write_master(job_dir, variants, audio)
    mpd = write_mpd(job_dir, variants, audio)
    ws.publish(layout.job_key(job.id, mpd))
    ws.publish(layout.job_key(job.id, master))
    return Manifests(master, mpd)
