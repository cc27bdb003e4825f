"""Split-and-stitch on two real workers: the joined ladder is indistinguishable to a player."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.jobs import Job
from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import duration, ffprobe, make_clip, stream
from tests.support.redis_server import RedisServer
from tests.support.workers import WorkerProcess, start_worker

pytestmark = pytest.mark.slow

SECONDS, CHUNK = 20, 4
AUDIO_LEAD_S = 4.0
"""Short enough that the 20 s source's audio is shared by the two workers' first slices."""


@pytest.fixture(scope="module")
def chunk_settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
                   ladder_file: Path) -> Settings:
    # Sources over 19 s split by themselves into 4 s slices (FFCLUSTER_CHUNK_ABOVE_S).
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            concurrency=1, x264_threads=1, chunk_above_s=SECONDS - 1,
                            chunk_seconds=CHUNK, audio_lead_s=AUDIO_LEAD_S)


@pytest.fixture(scope="module")
def two_workers(chunk_settings: Settings, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[list[WorkerProcess]]:
    logs = tmp_path_factory.mktemp("logs")
    workers = [start_worker(chunk_settings, logs, name) for name in ("left", "right")]
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def ntsc_source(media_dir: Path) -> Path:
    """29.97 fps with a keyframe only every 10 s: chunk starts never fall on one."""
    return make_clip(media_dir / "ntsc.mp4", seconds=SECONDS, size="640x360",
                     extra=["-r", "30000/1001", "-g", "300"])


@pytest.fixture(scope="module")
def chunked_job(chunk_settings: Settings, two_workers: list[WorkerProcess],
                ntsc_source: Path) -> Job:
    """No ``chunk_seconds``: the cluster splits it because it is over chunk_above_s."""
    job = submit(chunk_settings, ntsc_source, profiles=["360p", "144p"])
    assert job.chunk_seconds is None
    return wait_for_job(chunk_settings, job.id, timeout=240)


@pytest.fixture(scope="module")
def whole_job(chunk_settings: Settings, two_workers: list[WorkerProcess],
              ntsc_source: Path, chunked_job: Job) -> Job:
    job = submit(chunk_settings, ntsc_source, profiles=["360p"], chunk_seconds=0)
    return wait_for_job(chunk_settings, job.id, timeout=240)


@pytest.fixture(scope="module")
def keyed_job(chunk_settings: Settings, two_workers: list[WorkerProcess], media_dir: Path,
              chunked_job: Job) -> Job:
    """A source with a keyframe on every segment boundary: every slice is cut on one."""
    source = make_clip(media_dir / "keyed.mp4", seconds=SECONDS, size="640x360",
                       extra=["-g", "100", "-keyint_min", "100", "-sc_threshold", "0"])
    job = submit(chunk_settings, source, profiles=["144p"])
    return wait_for_job(chunk_settings, job.id, timeout=240)


def _probe_rows(path: Path, entries: str, *extra: str) -> list[list[str]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", *extra,
                          "-show_entries", entries, "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return [line.strip(",").split(",") for line in out.split() if line.strip(",")]


def test_every_chunk_was_encoded_once_by_the_two_workers(
    chunk_settings: Settings, chunked_job: Job, two_workers: list[WorkerProcess]
) -> None:
    assert chunked_job.chunk_length_s == CHUNK
    assert chunked_job.chunk_bounds == [0.0, 4.0, 8.0, 12.0, 16.0, SECONDS]
    assert chunked_job.chunk_cuts == ["keyframe"] + ["seek"] * 4  # keyframes every 10.01 s
    for rendition in chunked_job.renditions:
        assert rendition.chunks == SECONDS // CHUNK
        assert rendition.chunk_attempts == [1] * rendition.chunks
        assert rendition.chunk_percent == [100.0] * rendition.chunks
        assert rendition.codec == "libx264" and rendition.state == "done"
    for worker in two_workers:  # each worker finished at least one slice itself
        done = [line for line in worker.log().splitlines()
                if "ffcluster.encode_chunk[" in line and "succeeded" in line
                and line.rstrip().endswith("'done'")]
        assert done, f"{worker.name} encoded no slice"
    assert not (job_dir(chunk_settings, chunked_job.id) / ".chunks" / "360p").exists()


def test_stitched_output_has_every_frame_once_in_sync(
    chunk_settings: Settings, chunked_job: Job, ntsc_source: Path
) -> None:
    source_frames = len(_probe_rows(ntsc_source, "packet=pts_time"))
    for rendition in chunked_job.renditions:
        output = job_dir(chunk_settings, chunked_job.id) / str(rendition.output)
        packets = _probe_rows(output, "packet=pts_time,dts_time")
        assert len(packets) == source_frames
        dts = [float(d) for _, d in packets]
        assert all(b > a for a, b in itertools.pairwise(dts)), "DTS not monotonic"
        pts = sorted(float(p) for p, _ in packets)
        steps = {round(b - a, 4) for a, b in itertools.pairwise(pts)}
        assert steps <= {0.0333, 0.0334}, f"gap or repeated frame: steps {sorted(steps)}"
        info = ffprobe(output)
        video, audio = stream(info, "video"), stream(info, "audio")
        assert video and audio
        assert abs(float(video["duration"]) - float(audio["duration"])) <= 0.05
        assert abs(duration(info) - SECONDS) <= 0.1


def test_the_audio_is_encoded_in_parts_by_the_first_slices_and_each_stitch_joins_them(
    chunk_settings: Settings, chunked_job: Job, two_workers: list[WorkerProcess]
) -> None:
    assert chunked_job.audio_track == "in-slices" and chunked_job.audio_lead_s == AUDIO_LEAD_S
    [cut] = chunked_job.audio_cuts  # two encode slots: two parts, on the AAC frame grid
    assert cut % 1024 == 0 and abs(cut / 48_000 - (SECONDS + AUDIO_LEAD_S) / 2) < 0.05
    parts = [line for worker in two_workers for line in worker.log().splitlines()
             if f"job {chunked_job.id}: audio part" in line]
    assert sorted(p.split("audio part ")[1][:len("1 of 2 encoded by slice 1")]
                  for p in parts) == ["1 of 2 encoded by slice 1", "2 of 2 encoded by slice 2"]
    for rendition in chunked_job.renditions:  # each stitch joined the parts of its bitrate
        info = ffprobe(job_dir(chunk_settings, chunked_job.id) / str(rendition.output))
        audio = stream(info, "audio")
        assert audio and audio["codec_name"] == "aac" and int(audio["channels"]) == 2
        assert float(audio["start_time"]) == 0.0 and int(audio["sample_rate"]) == 48_000
        assert abs(float(audio["duration"]) - SECONDS) <= 0.03
        wanted = 128_000 if rendition.profile == "360p" else 64_000
        assert abs(int(audio["bit_rate"]) - wanted) <= 0.25 * wanted, (rendition.profile, audio)
    assert not (job_dir(chunk_settings, chunked_job.id) / ".audio").exists()


def test_keyframes_land_on_segment_boundaries_in_every_rendition(
    chunk_settings: Settings, chunked_job: Job
) -> None:
    times = {}
    for rendition in chunked_job.renditions:
        output = job_dir(chunk_settings, chunked_job.id) / str(rendition.output)
        rows = _probe_rows(output, "frame=pts_time", "-skip_frame", "nokey")
        times[rendition.profile] = [round(float(row[0]), 1) for row in rows]
    expected = [0.0, 4.0, 8.0, 12.0, 16.0]
    assert all(t == expected for t in times.values()), times


def _ssim_per_frame(encoded: Path, source: Path, scratch: Path) -> list[float]:
    stats = scratch / f"ssim-{encoded.stem}.log"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(encoded), "-i", str(source),
                    "-lavfi", f"[0:v][1:v]ssim=stats_file={stats}", "-f", "null", "-"],
                   check=True)
    return [float(part.split(":")[1]) for line in stats.read_text().splitlines()
            for part in line.split() if part.startswith("All:")]


def test_quality_near_boundaries_and_bitrate_cost_match_an_unchunked_encode(
    chunk_settings: Settings, chunked_job: Job, whole_job: Job, ntsc_source: Path,
    tmp_path: Path, record_property: pytest.RecordProperty,
) -> None:
    chunked = job_dir(chunk_settings, chunked_job.id) / "360p.mp4"
    whole = job_dir(chunk_settings, whole_job.id) / "360p.mp4"
    ssim = _ssim_per_frame(chunked, ntsc_source, tmp_path)
    fps = 30000 / 1001
    near = [s for i, s in enumerate(ssim) if min((i / fps) % CHUNK, CHUNK - (i / fps) % CHUNK)
            < 0.5 and i / fps > 1]
    middle = [s for i, s in enumerate(ssim) if abs((i / fps) % CHUNK - CHUNK / 2) < 0.5]
    boundary_ssim, middle_ssim = sum(near) / len(near), sum(middle) / len(middle)
    size_ratio = chunked.stat().st_size / whole.stat().st_size
    figures = {"boundary_ssim": round(boundary_ssim, 4), "mid_chunk_ssim": round(middle_ssim, 4),
               "chunked_to_whole_size": round(size_ratio, 3)}
    record_property("split_and_stitch", json.dumps(figures))
    print("split-and-stitch:", figures)
    assert boundary_ssim >= middle_ssim - 0.02, figures
    assert 0.8 < size_ratio < 1.2, figures


def test_slices_that_start_on_source_keyframes_are_cut_there_and_join_whole(
    chunk_settings: Settings, keyed_job: Job, media_dir: Path
) -> None:
    assert keyed_job.chunk_cuts == ["keyframe"] * 5
    [rendition] = keyed_job.renditions
    assert rendition.chunks == 5 and rendition.chunk_attempts == [1] * 5
    output = job_dir(chunk_settings, keyed_job.id) / str(rendition.output)
    source_frames = len(_probe_rows(media_dir / "keyed.mp4", "packet=pts_time"))
    assert len(_probe_rows(output, "packet=pts_time")) == source_frames
    keys = _probe_rows(output, "frame=pts_time", "-skip_frame", "nokey")
    assert [round(float(row[0]), 1) for row in keys] == [0.0, 4.0, 8.0, 12.0, 16.0]
    info = ffprobe(output)
    video, audio = stream(info, "video"), stream(info, "audio")
    assert video and audio and abs(float(video["duration"]) - float(audio["duration"])) <= 0.05


def test_sound_that_ends_before_the_picture_is_encoded_whole_and_the_job_finishes(
    chunk_settings: Settings, two_workers: list[WorkerProcess], media_dir: Path,
    chunked_job: Job
) -> None:
    source = media_dir / "short-sound.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=10:duration={SECONDS}",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=6",
                    "-c:v", "mpeg4", "-c:a", "aac", str(source)], check=True)
    job = wait_for_job(chunk_settings, submit(chunk_settings, source, profiles=["144p"]).id,
                       timeout=240)
    assert job.state == "done", job.error
    assert job.audio_track == "encoded"  # its own task: the parts are planned over the video
    [rendition] = job.renditions
    assert rendition.chunks >= 2
    info = ffprobe(job_dir(chunk_settings, job.id) / str(rendition.output))
    video, audio = stream(info, "video"), stream(info, "audio")
    assert video and abs(float(video["duration"]) - SECONDS) <= 0.1
    assert audio and abs(float(audio["duration"]) - 6.0) <= 0.1
