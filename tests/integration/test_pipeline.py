"""End to end through a real worker: upload in the data dir -> verified ladder in outputs."""

from __future__ import annotations

from pathlib import Path

from common.events import EVENT_VERSION
from common.jobs import JobMode
from common.settings import Settings
from tests.support.files import job_dir
from tests.support.jobs import EventRecorder, submit, wait_for_job
from tests.support.live import per_rendition
from tests.support.manifests import stream_types
from tests.support.media import duration, ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.workers import WorkerProcess, check_codec_choice

RECEIVED_SPAN_OF_FIVE_S = 0.8
"""The least time five consecutive progress events of one rendition may span on arrival:
the 4-a-second window's 1 s, less up to 200 ms of delivery jitter."""


def _is_faststart(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def test_ladder_encodes_with_visible_gpu_fallback(
    gpu_settings: Settings, gpu_worker: WorkerProcess, clip: Path
) -> None:
    job = wait_for_job(gpu_settings, submit(gpu_settings, clip).id)

    # 360p is taller than the 240-line source: skipped, never upscaled.
    assert [r.profile for r in job.renditions] == ["240p", "144p"]
    assert job.source is not None and job.source.has_audio and job.source.duration == 2.0
    expected_sizes = {"240p": (320, 240), "144p": (192, 144)}
    for rendition in job.renditions:
        output = job_dir(gpu_settings, job.id) / str(rendition.output)
        info = ffprobe(output)
        video, audio = stream(info, "video"), stream(info, "audio")
        assert video is not None and video["codec_name"] == "h264"
        assert video["profile"] == "High"
        assert (video["width"], video["height"]) == expected_sizes[rendition.profile]
        assert audio is not None and audio["codec_name"] == "aac"
        assert abs(duration(info) - job.source.duration) <= 0.1
        assert _is_faststart(output)
        # The worker was started with --gpu on: without a GPU NVENC really fails and the
        # rendition says so instead of downgrading silently; with one, NVENC encodes.
        check_codec_choice(rendition, gpu_worker)
        assert rendition.queue == "gpu"
        assert rendition.worker and rendition.worker.startswith("gpu1@")
        assert rendition.percent == 100.0 and rendition.attempts == 1
        assert rendition.size_bytes == output.stat().st_size
        # the encoding FFmpeg's own run, inside the rendition's span
        assert rendition.started_at is not None and rendition.finished_at is not None
        assert rendition.ffmpeg_s is not None
        assert 0.05 < rendition.ffmpeg_s < rendition.finished_at - rendition.started_at
    assert len({r.ffmpeg_s for r in job.renditions}) == 1  # one FFmpeg made the ladder
    assert job.poster == "poster.jpg"
    assert (job_dir(gpu_settings, job.id) / "poster.jpg").stat().st_size > 1000
    leftovers = [p.name for p in job_dir(gpu_settings, job.id).iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


def test_source_without_audio_gives_video_only_outputs(
    gpu_settings: Settings, gpu_worker: WorkerProcess, silent_clip: Path
) -> None:
    job = wait_for_job(gpu_settings, submit(gpu_settings, silent_clip, profiles=["144p"]).id)
    assert [r.profile for r in job.renditions] == ["144p"]
    info = ffprobe(job_dir(gpu_settings, job.id) / "144p.mp4")
    assert stream(info, "audio") is None
    assert stream(info, "video") is not None
    assert abs(duration(info) - 2.0) <= 0.1


def test_progress_events_arrive_in_order_and_match_the_record(
    gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path, events: EventRecorder
) -> None:
    source = make_clip(media_dir / "long.mp4", seconds=12, size="640x360")
    job = wait_for_job(gpu_settings, submit(gpu_settings, source, profiles=["360p"]).id)

    def final_job_event() -> dict | None:
        done = [e for e in events.of("job", job.id) if e["job"]["state"] == "done"]
        return done[-1] if done else None

    final = wait_for(final_job_event, timeout=10, message="final job event")
    assert final["v"] == EVENT_VERSION and final["job"]["renditions"][0]["percent"] == 100.0
    progress = [e for e in per_rendition(events.of("progress", job.id)) if e["profile"] == "360p"]
    percents = [e["percent"] for e in progress]
    assert len(percents) >= 3, percents
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert any(0 < p < 100 for p in percents)
    assert all(set(e) >= {"job_id", "profile", "percent", "fps", "bitrate_kbps", "speed", "eta_s"}
               for e in progress)
    # At most 4 events in any one-second window per encode (the final 100% may always
    # follow), counted when they crossed Redis: a held block keeps its earlier ``ts``. The
    # window's exact rule is proven with a fake clock in tests/workers/test_runtime.py; here
    # each event also carries a record write, a publish and the recorder's wake-up, which on
    # a loaded 2-core machine can shift one of them by more than 50 ms (a fresh run failed
    # at 0.95), so 5 events must span 0.8 s: a burst of held blocks sent at once still fails.
    times = sorted(e["_received_at"] for e in progress)[:-1]
    assert all(b - a >= RECEIVED_SPAN_OF_FIVE_S
               for a, b in zip(times, times[4:], strict=False)), times
    states = [e["job"]["state"] for e in events.of("job", job.id)]
    assert states.index("probing") < states.index("encoding") < states.index("done")


def test_passthrough_mode_remuxes_without_reencoding(
    gpu_settings: Settings, gpu_worker: WorkerProcess, clip: Path
) -> None:
    job = wait_for_job(gpu_settings, submit(gpu_settings, clip, mode=JobMode.PASSTHROUGH).id)
    [rendition] = job.renditions
    assert rendition.passthrough and rendition.codec == "copy" and rendition.fallbacks == []
    source_video = stream(ffprobe(clip), "video")
    output_video = stream(ffprobe(job_dir(gpu_settings, job.id) / str(rendition.output)),
                          "video")
    assert source_video and output_video
    assert output_video["nb_frames"] == source_video["nb_frames"]
    assert output_video["bit_rate"] == source_video["bit_rate"]


def test_rung_the_source_already_satisfies_is_stream_copied(
    gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path
) -> None:
    small = make_clip(media_dir / "small-144.mp4", size="192x144",
                      extra=["-b:v", "80k", "-maxrate", "100k", "-bufsize", "200k"])
    job = wait_for_job(gpu_settings, submit(gpu_settings, small).id)
    [rendition] = job.renditions
    assert rendition.profile == "144p"
    assert rendition.passthrough and rendition.codec == "copy"
    # no encode wrote the audio rendition: the finalize step copied it from the MP4
    assert rendition.audio is None
    audio = job_dir(gpu_settings, job.id) / "hls" / "audio"
    assert stream_types(audio / "init.mp4") == ["audio"]
    assert "audio/index.m3u8" in (audio.parent / "master.m3u8").read_text()


def test_source_smaller_than_every_rung_keeps_its_own_size(
    gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path
) -> None:
    tiny = make_clip(media_dir / "tiny.mp4", size="160x90")
    job = wait_for_job(gpu_settings, submit(gpu_settings, tiny).id)
    [rendition] = job.renditions
    assert rendition.profile == "144p" and not rendition.passthrough
    video = stream(ffprobe(job_dir(gpu_settings, job.id) / "144p.mp4"), "video")
    assert video and (video["width"], video["height"]) == (160, 90)


def test_unreadable_upload_fails_with_a_sentence_and_the_worker_goes_on(
    gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path, clip: Path
) -> None:
    text = media_dir / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 20)
    empty = media_dir / "empty.mp4"
    empty.write_bytes(b"")
    bad = wait_for_job(gpu_settings, submit(gpu_settings, text).id, states=("failed",))
    assert bad.error and "not a video" in bad.error
    nothing = wait_for_job(gpu_settings, submit(gpu_settings, empty).id, states=("failed",))
    assert nothing.error == "The upload is empty (0 bytes)."
    good = wait_for_job(gpu_settings, submit(gpu_settings, clip, profiles=["144p"]).id)
    assert good.renditions[0].state == "done"
    assert not job_dir(gpu_settings, bad.id).exists()
