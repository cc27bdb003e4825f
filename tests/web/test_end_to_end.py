"""Upload through a real web process, encode on a real worker, watch it over Socket.IO."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from common.settings import Settings
from tests.support.live import RecordingClient, per_rendition, wait_for_listeners
from tests.support.media import make_clip
from tests.support.redis_server import RedisServer
from tests.support.web import start_web_with
from tests.support.workers import WorkerProcess, check_codec_choice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    return make_clip(media_dir / "web-e2e.mp4", seconds=6, size="640x360")


@pytest.mark.parametrize("async_mode", ["threading", "eventlet"])
def test_upload_encode_and_download_with_live_events(
    gpu_settings: Settings, gpu_worker: WorkerProcess, source: Path, async_mode: str,
    redis_server: RedisServer,
) -> None:
    web = start_web_with(gpu_settings, async_mode)
    client = None
    try:
        client = RecordingClient(web.url)
        wait_for_listeners(redis_server.client(), 1)
        with source.open("rb") as handle:
            response = requests.post(f"{web.url}/api/jobs", files={"file": ("Show.MP4", handle)},
                                     data={"profiles": "240p,144p"}, timeout=30)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert client.subscribe(job_id) == {"ok": True}

        final = client.wait_for("job", lambda p: p["job_id"] == job_id
                                and p["job"]["state"] in ("done", "failed"), timeout=150)
        job = final["job"]
        assert job["state"] == "done", job
        assert [r["profile"] for r in job["renditions"]] == ["240p", "144p"]
        ordered = [(name, p) for name, p in list(client.events) if p.get("job_id") == job_id]
        final_index = next(i for i, (name, p) in enumerate(ordered)
                           if name == "job" and p["job"]["state"] == "done")
        progress = per_rendition([p for name, p in ordered[:final_index] if name == "progress"])
        assert all(name != "progress" for name, _ in ordered[final_index + 1:])
        for profile in ("240p", "144p"):
            percents = [p["percent"] for p in progress if p["profile"] == profile]
            assert percents and percents == sorted(percents), (profile, percents)
        assert any(0 < p["percent"] < 100 for p in progress)
        states = [p["job"]["state"] for name, p in ordered if name == "job"]
        assert states.index("encoding") < states.index("done")

        for rendition in job["renditions"]:
            check_codec_choice(rendition, gpu_worker)
            url = f"{web.url}/api/jobs/{job_id}/outputs/{rendition['output']}"
            part = requests.get(url, headers={"Range": "bytes=0-11"}, timeout=10)
            assert part.status_code == 206 and part.content[4:8] == b"ftyp"
            whole = requests.get(url, timeout=10)
            assert len(whole.content) == rendition["size_bytes"]
        poster = requests.get(f"{web.url}/api/jobs/{job_id}/outputs/{job['poster']}", timeout=10)
        assert poster.status_code == 200 and poster.headers["Content-Type"] == "image/jpeg"
    finally:
        if client is not None:
            client.close()
        web.stop()
