"""Submit jobs the way the web tier does, and wait on their records."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from common import keys, tasknames
from common.celery_config import celery_config
from common.jobs import Job, JobMode
from common.pertitle import LadderMode
from common.redis_client import connect
from common.settings import Settings
from common.store import JobStore
from tests.support.files import uploads_dir
from tests.support.ports import wait_for

TEST_LADDER = {
    "profiles": [
        {"name": "360p", "height": 360, "video_bitrate_kbps": 600, "preset": "veryfast"},
        {"name": "240p", "height": 240, "video_bitrate_kbps": 300, "preset": "veryfast",
         "audio_bitrate_kbps": 64},
        {"name": "144p", "height": 144, "video_bitrate_kbps": 150, "preset": "veryfast",
         "audio_bitrate_kbps": 64},
    ]
}


def write_test_ladder(path: Path) -> Path:
    path.write_text(json.dumps(TEST_LADDER))
    return path


def producer(settings: Settings) -> Celery:
    app = Celery("ffcluster-tests", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


def submit(settings: Settings, clip: Path, *, profiles: list[str] | None = None,
           mode: JobMode = JobMode.ENCODE, source_name: str | None = None,
           hls: bool = True, chunk_seconds: int | None = None, quality: bool = False,
           ladder: LadderMode = LadderMode.FIXED, target_ssim: float | None = None) -> Job:
    """Copy ``clip`` into the uploads dir, create its job and enqueue the probe task."""
    job = Job.new(source_name or clip.name, "", mode=mode, requested_profiles=profiles, hls=hls,
                  chunk_seconds=chunk_seconds, quality=quality, ladder=ladder,
                  target_ssim=target_ssim)
    job.source_file = f"{job.id}{clip.suffix.lower()}"
    uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, uploads_dir(settings) / job.source_file)
    store = JobStore(connect(settings.effective_redis_url))
    store.create(job)
    producer(settings).send_task(tasknames.PROBE_JOB, args=[job.id], queue=tasknames.QUEUE_CPU)
    return job


def wait_for_job(settings: Settings, job_id: str, states: Iterable[str] = ("done",),
                 timeout: float = 90) -> Job:
    """Poll the job record until it reaches a terminal state; assert it is one of ``states``."""
    store = JobStore(connect(settings.effective_redis_url))
    job = wait_for(lambda: (j := store.get(job_id)) is not None and j.terminal and j,
                   timeout=timeout, interval=0.1, message=f"job {job_id} to finish")
    assert job.state in set(states), json.dumps(job.to_dict(), indent=1)
    return job


class EventRecorder:
    """Record every Socket.IO emit that crosses Redis (what every web process receives)."""

    def __init__(self, redis_url: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(keys.SOCKETIO_CHANNEL)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._running = True
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            message = self._pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                body = json.loads(message["data"])
                if body.get("method") == "emit":
                    data = body["data"][0]
                    data["_received_at"] = time.time()  # when it crossed Redis, not its ts
                    self.events.append((body["event"], data))

    def of(self, event: str, job_id: str) -> list[dict[str, Any]]:
        return [data for name, data in list(self.events)
                if name == event and data.get("job_id") == job_id]

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._pubsub.close()
