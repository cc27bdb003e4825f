"""A job record written straight into Redis cannot make a worker touch files outside its dirs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common import tasknames
from common.jobs import Job, Rendition, SourceInfo
from common.ladder import DEFAULT_LADDER
from common.settings import Settings
from common.states import JobState, RenditionState
from common.store import JobStore
from tests.support.files import job_dir, uploads_dir
from tests.support.jobs import producer, wait_for_job
from tests.support.workers import WorkerProcess


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory outside the data dir with a file in it, that nothing may delete or read."""
    directory = tmp_path / "victim"
    directory.mkdir()
    (directory / "precious.txt").write_text("keep me")
    return directory


def _store(settings: Settings) -> JobStore:
    return JobStore(redis.Redis.from_url(settings.effective_redis_url))


@pytest.mark.parametrize("source_file", ["/etc/hostname", "../../victim/precious.txt",
                                         ".hidden.mp4"])
def test_probe_refuses_a_source_outside_the_uploads(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], source_file: str,
        victim: Path) -> None:
    worker_factory(settings)
    job = _store(settings).create(Job.new("x.mp4", source_file))
    producer(settings).send_task(tasknames.PROBE_JOB, args=[job.id], queue=tasknames.QUEUE_CPU)
    failed = wait_for_job(settings, job.id, states=("failed",), timeout=30)
    assert "unusable source file" in str(failed.error)
    assert not job_dir(settings, job.id).exists()
    assert (victim / "precious.txt").read_text() == "keep me"


def test_encode_refuses_a_profile_that_climbs_out(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], victim: Path,
        clip: Path) -> None:
    worker_factory(settings)
    uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, uploads_dir(settings) / "real.mp4")
    climb = "../" * 8 + str(victim).lstrip("/")
    source = SourceInfo(duration=2.0, width=320, height=240, video_codec="h264", fps=25.0,
                        has_audio=True, audio_codec="aac")
    rendition = Rendition(climb, queue="cpu", output=f"{climb}.mp4", width=160, height=120,
                          target={**DEFAULT_LADDER[2].to_dict(), "name": climb})
    job = _store(settings).create(Job.new("x.mp4", "real.mp4", state=JobState.ENCODING,
                                          source=source, renditions=[rendition]))
    producer(settings).send_task(tasknames.ENCODE_RENDITIONS, args=[job.id, [climb]],
                                 queue=tasknames.QUEUE_CPU)
    failed = wait_for_job(settings, job.id, states=("failed",), timeout=30)
    assert "unusable profile name" in str(failed.error) or "refused" in str(failed.error)
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "keep me"
    assert failed.rendition(climb).state != RenditionState.DONE
