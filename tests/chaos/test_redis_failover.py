"""Redis fails over under a running job: Sentinel promotes the replica, everyone follows it.

Real processes: a primary with one replica and three Sentinels (Debian's redis-sentinel),
a web tier, two workers and a Socket.IO client, all given the ``redis+sentinel://`` URL.
The primary is SIGKILLed mid-encode; nothing is restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import cluster_settings
from tests.support.live import RecordingClient, wait_for_listeners
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.sentinel import SentinelSet, start_sentinel_set
from tests.support.web import start_web_with
from tests.support.workers import start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    group = start_sentinel_set(tmp_path / "redis")
    yield group
    group.stop()


def _submit(url: str, clip: Path, profiles: str) -> str:
    with clip.open("rb") as handle:
        response = requests.post(f"{url}/api/jobs", files={"file": (clip.name, handle)},
                                 data={"profiles": profiles}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _job(url: str, job_id: str) -> dict[str, Any]:
    return requests.get(f"{url}/api/jobs/{job_id}", timeout=10).json()


def _ended(url: str, job_id: str, timeout: float) -> dict[str, Any]:
    return wait_for(lambda: (j := _job(url, job_id))["state"] in ("done", "failed", "canceled")
                    and j, timeout=timeout, interval=0.25, message=f"job {job_id} to end")


def test_a_primary_killed_mid_encode_is_followed_and_the_job_finishes(
    sentinels: SentinelSet, tmp_path: Path, ladder_file: Path, media_dir: Path,
) -> None:
    settings = cluster_settings(sentinels.url, tmp_path / "data", ladder_file, concurrency=1)
    web = start_web_with(settings, "threading")
    workers = [start_worker(settings, tmp_path / "logs", name) for name in ("fo1", "fo2")]
    client = None
    try:
        small = make_clip(media_dir / "failover-small.mp4", seconds=1, size="320x240")
        earlier = [_submit(web.url, small, "144p") for _ in range(3)]
        before = {job_id: _ended(web.url, job_id, 60)["state"] for job_id in earlier}
        assert set(before.values()) == {"done"}

        client = RecordingClient(web.url)
        wait_for_listeners(sentinels.client(), 1)
        clip = make_clip(media_dir / "failover-long.mp4", seconds=10, size="640x360")
        job_id = _submit(web.url, clip, "360p,240p,144p")
        assert client.subscribe(job_id) == {"ok": True}
        wait_for(lambda: any(r["state"] == "encoding" and r["percent"] > 5
                             for r in _job(web.url, job_id)["renditions"]),
                 timeout=60, interval=0.1, message="the job encoding")

        killed = sentinels.kill_primary()
        wait_for(lambda: sentinels.primary_port() != killed, timeout=30, interval=0.2,
                 message="Sentinel to promote the replica")

        job = _ended(web.url, job_id, 150)
        assert job["state"] == "done", job
        assert {job_id: _job(web.url, job_id)["state"] for job_id in earlier} == before
        final = client.wait_for("job", lambda p: p["job_id"] == job_id
                                and p["job"]["state"] == "done", timeout=30)
        assert [r["state"] for r in final["job"]["renditions"]] == ["done"] * 3
        assert client.sio.connected
        assert all(worker.alive() for worker in workers)
    finally:
        if client is not None:
            client.close()
        for worker in workers:
            worker.stop()
        web.stop()
