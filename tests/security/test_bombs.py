"""Duration and resize bombs fail fast with a sentence; one job's slices never starve others."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common.settings import Settings
from common.tasknames import ENCODE_CHUNK, QUEUE_CPU
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import make_clip, make_duration_bomb, make_resize_bomb
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow


def _queued_tasks(client: redis.Redis, name: str) -> int:
    """How many messages for task ``name`` wait in the ``cpu`` list right now."""
    return sum(1 for raw in client.lrange(QUEUE_CPU, 0, -1)
               if json.loads(raw).get("headers", {}).get("task") == name)


class QueueWatch(threading.Thread):
    """Sample how many slice tasks wait in the queue, for as long as the test runs."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client, self.most, self.running = client, 0, True

    def run(self) -> None:
        while self.running:
            self.most = max(self.most, _queued_tasks(self.client, ENCODE_CHUNK))
            time.sleep(0.02)


def test_duration_bomb_fails_in_seconds_and_a_normal_job_is_not_delayed(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], tmp_path: Path,
        clip: Path) -> None:
    worker_factory(settings)
    client = redis.Redis.from_url(settings.effective_redis_url)
    bomb = make_duration_bomb(tmp_path / "bomb.mp4")
    assert bomb.stat().st_size < 200_000
    watch = QueueWatch(client)
    watch.start()
    started = time.monotonic()
    bomb_job = submit(settings, bomb, chunk_seconds=1, profiles=["144p"])
    normal = submit(settings, clip, profiles=["144p"])
    failed = wait_for_job(settings, bomb_job.id, states=("failed",), timeout=30)
    assert time.monotonic() - started < 30
    assert failed.error is not None and "header says it lasts 100:00:00" in failed.error
    assert "streams end at 5.0 s" in failed.error and "/" not in failed.error
    done = wait_for_job(settings, normal.id, timeout=30)
    watch.running = False
    assert watch.most == 0 and failed.renditions == []
    assert done.renditions[0].state == "done"
    assert client.memory_usage(f"ffc:job:{bomb_job.id}") < 20_000


def test_source_over_the_duration_ceiling_is_refused(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], clip: Path) -> None:
    worker_factory(settings.with_overrides(max_source_seconds=1))
    job = submit(settings, clip, profiles=["144p"])
    failed = wait_for_job(settings, job.id, states=("failed",), timeout=30)
    assert failed.error == ("The video lasts 2.0 s, longer than this cluster accepts "
                            "(1.0 s).")


def test_resize_bomb_fails_with_a_sentence(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
    worker_factory(settings)
    bomb = make_resize_bomb(tmp_path / "resize.mkv")
    job = submit(settings, bomb, profiles=["144p"], hls=False)
    failed = wait_for_job(settings, job.id, states=("failed",), timeout=30)
    [rendition] = failed.renditions
    assert rendition.state == "failed"
    assert "A frame of the video is larger than this cluster accepts" in str(rendition.error)
    assert rendition.fallbacks == []  # not blamed on the codec, not retried with another
    outputs = job_dir(settings, job.id)
    assert not outputs.exists() or not any(p.suffix == ".mp4" for p in outputs.rglob("*"))


def test_slices_are_queued_in_a_window_and_a_later_job_finishes_first(
        settings: Settings, worker_factory: Callable[..., WorkerProcess],
        media_dir: Path) -> None:
    windowed = settings.with_overrides(chunk_window=2)
    worker_factory(windowed)
    client = redis.Redis.from_url(settings.effective_redis_url)
    source = make_clip(media_dir / "twenty-320x240.mp4", seconds=20)
    short = make_clip(media_dir / "short-for-window.mp4", seconds=1)
    watch = QueueWatch(client)
    watch.start()
    long_job = submit(windowed, source, chunk_seconds=4, profiles=["144p"], hls=False)
    later = submit(windowed, short, profiles=["144p"], hls=False)
    first = wait_for_job(windowed, later.id, timeout=60)
    last = wait_for_job(windowed, long_job.id, timeout=120)
    watch.running = False
    assert last.rendition("144p").chunks == 5
    assert watch.most <= 2, f"{watch.most} slice tasks were queued at once"
    assert first.finished_at is not None and last.finished_at is not None
    assert first.finished_at < last.finished_at
