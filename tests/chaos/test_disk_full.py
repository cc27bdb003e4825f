"""A full disk: the worker gives the work back for another, the web tier answers 507.

Each "small disk" is a tmpfs mounted in a private mount namespace (``unshare --mount``) of
that one process, so nothing else on the machine sees it, and it goes with the process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import requests

from common.settings import Settings
from common.store import JobStore
from tests.conftest import cluster_settings
from tests.support.files import job_dir, outputs_dir, uploads_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import start_web_with
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="a private mount namespace needs root and unshare (util-linux)")


def small_disk(directory: Path, size: str) -> list[str]:
    """An argv prefix: run the command with ``directory`` on a tmpfs of ``size``, privately."""
    script = (f'mkdir -p "{directory}" && mount -t tmpfs -o size={size} ffcluster-test '
              f'"{directory}" && exec "$0" "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def seen_by(pid: int, directory: Path) -> list[str]:
    """What ``directory`` holds as process ``pid`` (in its own mount namespace) sees it."""
    inside = Path(f"/proc/{pid}/root") / str(directory).lstrip("/")
    return sorted(p.name for p in inside.rglob("*")) if inside.exists() else []


@pytest.fixture
def settings(redis_server: RedisServer, tmp_path: Path, ladder_file: Path) -> Settings:
    redis_server.client().flushall()
    return cluster_settings(redis_server.url, tmp_path / "data", ladder_file, concurrency=1)


def test_a_worker_whose_disk_fills_gives_the_work_to_another(
        settings: Settings, worker_factory: Callable[..., WorkerProcess], clip: Path) -> None:
    full = worker_factory(settings, name="full",
                          argv_prefix=small_disk(outputs_dir(settings), "16k"))
    job = submit(settings, clip, profiles=["144p"], hls=False)
    store = JobStore(redis.Redis.from_url(settings.effective_redis_url))
    released = wait_for(lambda: (j := store.get(job.id)) and j.renditions
                        and "ran out of disk space" in str(j.renditions[0].error) and j,
                        timeout=60, message="the full worker giving the rendition back")
    rendition = released.renditions[0]
    assert rendition.state in ("queued", "encoding") and rendition.worker.startswith("full@")
    assert "queued again for another worker" in str(rendition.error)
    assert [n for n in seen_by(full.pid, outputs_dir(settings)) if n.endswith(".mp4")] == []
    roomy = worker_factory(settings, name="roomy")
    done = wait_for_job(settings, job.id, timeout=90)
    [rendition] = done.renditions
    assert rendition.state == "done" and rendition.worker.startswith("roomy@")
    assert rendition.attempts == 2 and rendition.error is None
    assert (job_dir(settings, job.id) / "144p.mp4").stat().st_size > 1000
    assert full.alive() and roomy.alive()
    assert "ran out of disk space" in full.log()


def test_an_upload_that_does_not_fit_is_507_and_leaves_nothing(
        settings: Settings, tmp_path: Path) -> None:
    web = start_web_with(settings, "threading",
                         argv_prefix=small_disk(uploads_dir(settings), "64k"))
    try:
        big = make_clip(tmp_path / "big.mp4", seconds=4, size="640x360")
        assert big.stat().st_size > 64 * 1024
        with big.open("rb") as handle:
            answer = requests.post(f"{web.url}/api/jobs", files={"file": ("big.mp4", handle)},
                                   timeout=30)
        assert answer.status_code == 507
        assert answer.json()["error"].startswith("The server has no space left to store")
        assert requests.get(f"{web.url}/api/jobs", timeout=5).json()["total"] == 0
        assert seen_by(web.process.pid, uploads_dir(settings)) == []
        small = make_clip(tmp_path / "small.mp4", seconds=0.4, size="160x120", audio=False)
        assert small.stat().st_size < 32 * 1024
        with small.open("rb") as handle:  # the space freed is really free again
            again = requests.post(f"{web.url}/api/jobs", files={"file": ("small.mp4", handle)},
                                  timeout=30)
        assert again.status_code == 202
    finally:
        web.stop()
