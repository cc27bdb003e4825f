"""Routing with CPU-only workers: nothing goes to, or stays on, a queue nobody consumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common import registry, tasknames
from common.jobs import Job, Rendition
from common.settings import Settings
from common.states import JobState
from common.store import JobStore
from tests.conftest import cluster_settings
from tests.support.files import job_dir, uploads_dir
from tests.support.jobs import producer, submit, wait_for_job
from tests.support.media import fake_nvenc_ffmpeg, ffprobe, stream
from tests.support.redis_server import RedisServer
from tests.support.workers import WorkerProcess


def test_cpu_only_cluster_routes_to_cpu_without_hardware_attempts(
    redis_server: RedisServer, tmp_path: Path, ladder_file: Path, clip: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    settings = cluster_settings(redis_server.url, tmp_path / "data", ladder_file, gpu="off")
    worker_factory(settings, name="cpu1")
    [info] = registry.list_workers(redis_server.client())
    assert not info.gpu and info.queues == ["cpu"]
    assert info.encoders == ["libx264", "libx265", "libsvtav1"]  # software only, every codec
    assert info.codecs == ["h264", "hevc", "av1"]

    job = wait_for_job(settings, submit(settings, clip, profiles=["144p"]).id)
    [rendition] = job.renditions
    assert rendition.queue == "cpu" and rendition.codec == "libx264"
    assert rendition.fallbacks == []


def test_a_working_hardware_encoder_tags_the_worker_gpu_and_routes_to_it(
    redis_server: RedisServer, tmp_path: Path, ladder_file: Path, clip: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    """The positive GPU path, on any machine: an FFmpeg whose NVENC test encode succeeds."""
    redis_server.client().flushall()
    ffmpeg_bin = fake_nvenc_ffmpeg(tmp_path / "ffmpeg-with-nvenc")
    settings = cluster_settings(redis_server.url, tmp_path / "data", ladder_file, gpu="auto",
                                ffmpeg_bin=str(ffmpeg_bin))
    worker_factory(settings, name="gpuauto")
    [info] = registry.list_workers(redis_server.client())
    assert info.gpu and set(info.queues) == {"cpu", "gpu"}
    assert info.encoders[0] == "h264_nvenc" and "h264_nvenc" not in info.hw_failures
    job = wait_for_job(settings, submit(settings, clip, profiles=["144p"]).id)
    [rendition] = job.renditions
    assert (rendition.queue, rendition.codec, rendition.fallbacks) == ("gpu", "h264_nvenc", [])
    video = stream(ffprobe(job_dir(settings, job.id) / "144p.mp4"), "video")
    assert video is not None and video["codec_name"] == "h264" and video["height"] == 144


def test_task_stranded_on_gpu_queue_moves_to_cpu_when_no_gpu_worker_is_online(
    redis_server: RedisServer, tmp_path: Path, ladder_file: Path, clip: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    settings: Settings = cluster_settings(redis_server.url, tmp_path / "data", ladder_file)
    worker_factory(settings, name="cpu2")
    # A job planned while a GPU worker was online, whose GPU worker has since gone away.
    job = Job.new("stranded.mp4", "stranded.mp4", state=JobState.ENCODING)
    uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    (uploads_dir(settings) / "stranded.mp4").write_bytes(clip.read_bytes())
    probe_job = wait_for_job(settings, submit(settings, clip, profiles=["144p"]).id)
    job.source = probe_job.source
    job.renditions = [Rendition("144p", queue="gpu", width=192, height=144, output="144p.mp4",
                                target=probe_job.renditions[0].target)]
    JobStore(redis_server.client()).create(job)
    producer(settings).send_task(tasknames.ENCODE_RENDITION, args=[job.id, "144p"],
                                 queue=tasknames.QUEUE_GPU)

    final = wait_for_job(settings, job.id, timeout=30)
    assert final.renditions[0].worker and final.renditions[0].worker.startswith("cpu2@")
