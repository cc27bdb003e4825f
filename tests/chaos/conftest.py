"""Slow encodes to interrupt: a 20 s 640x360 source and a deliberately slow single-thread rung."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests

from common.jobs import Job
from common.settings import Settings
from common.states import RenditionState
from common.store import JobStore
from tests.conftest import cluster_settings
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, child_pids, pid_exists, process_name

SLOW_LADDER = {"profiles": [
    {"name": "360p", "height": 360, "video_bitrate_kbps": 600, "preset": "slower"},
]}


@pytest.fixture(scope="module")
def long_clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "long-640x360.mp4", seconds=20, size="640x360")


@pytest.fixture(scope="module")
def slow_ladder(media_dir: Path) -> Path:
    path = media_dir / "slow-ladder.json"
    path.write_text(json.dumps(SLOW_LADDER))
    return path


@pytest.fixture
def chaos_settings(redis_server: RedisServer, tmp_path: Path, slow_ladder: Path) -> Settings:
    redis_server.client().flushall()
    return cluster_settings(redis_server.url, tmp_path / "data", slow_ladder, concurrency=1,
                            x264_threads=1)


class UserApi:
    """What a user does to a job, over HTTP on a real web tier started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.web: WebProcess | None = None

    def start(self) -> WebProcess:
        """Start the web tier now: a test that times what follows a cancel must not count
        its start-up (seconds, while the job's slices go on running)."""
        if self.web is None:
            self.web = start_web_with(self.settings, "threading")
        return self.web

    def _url(self, path: str) -> str:
        return f"{self.start().url}{path}"

    def cancel(self, job_id: str) -> Job:
        """``DELETE /api/jobs/<id>``; return the job JSON of the 200 answer."""
        answer = requests.delete(self._url(f"/api/jobs/{job_id}"), timeout=10)
        assert answer.status_code == 200, answer.text
        return Job.from_dict(answer.json())

    def retry(self, job_id: str) -> Job:
        """``POST /api/jobs/<id>/retry``; return the job JSON of the 202 answer."""
        answer = requests.post(self._url(f"/api/jobs/{job_id}/retry"), timeout=10)
        assert answer.status_code == 202, answer.text
        return Job.from_dict(answer.json())

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()


@pytest.fixture
def user_api(chaos_settings: Settings) -> Iterator[UserApi]:
    """A user's cancel and retry on the test's cluster (``user_api.settings`` may be replaced
    before first use by a test that overrides its settings)."""
    api = UserApi(chaos_settings)
    yield api
    api.stop()


def ffmpeg_pids(worker: WorkerProcess) -> list[int]:
    return [pid for pid in child_pids(worker.pid) if process_name(pid) == "ffmpeg"]


def parent_of(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def wait_encoding(settings: Settings, job_id: str, above: float = 5.0,
                  timeout: float = 60) -> Job:
    """Wait until the job's first rendition is encoding and past ``above`` percent."""
    store = JobStore(settings_client(settings))

    def encoding() -> Job | None:
        job = store.get(job_id)
        if job and job.renditions and job.renditions[0].state == RenditionState.ENCODING \
                and job.renditions[0].percent > above:
            return job
        return None

    return wait_for(encoding, timeout=timeout, message=f"{job_id} encoding past {above}%")


def settings_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.effective_redis_url)


def wait_gone(pids: list[int], timeout: float) -> float:
    """Poll until every pid has exited; return how long it took."""
    started = time.monotonic()
    wait_for(lambda: not any(pid_exists(p) for p in pids), timeout=timeout, interval=0.02,
             message=f"processes {pids} to exit")
    return time.monotonic() - started


Factory = Callable[..., WorkerProcess]
