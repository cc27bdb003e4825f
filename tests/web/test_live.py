"""Real web processes on a real redis-server, in eventlet and threading modes."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common import events
from common.states import JobState
from common.store import JobStore
from tests.support.live import RecordingClient, per_rendition, wait_for_listeners
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web

pytestmark = pytest.mark.timeout(180)

MODES = ["threading", "eventlet"]


@pytest.fixture(params=MODES)
def async_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    redis_server.client().flushall()
    return redis_server


@pytest.fixture
def web(fresh_redis: RedisServer, tmp_path: Path, async_mode: str) -> Iterator[WebProcess]:
    process = start_web(fresh_redis.url, tmp_path / "data", async_mode)
    yield process
    process.stop()


def submit(base_url: str, name: str = "clip.mp4", size: int = 4096) -> dict[str, object]:
    response = requests.post(f"{base_url}/api/jobs", files={"file": (name, b"\x00" * size)},
                             data={"profiles": "480p"}, timeout=10)
    assert response.status_code == 202, response.text
    return dict(response.json())


def _slow_upload(url: str, stop: threading.Event, result: dict[str, int]) -> None:
    """Send a multipart upload in small pieces, slowly, like a client on a bad link."""
    boundary = "slowbound"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"slow.mp4\"\r\n\r\n").encode()
        while not stop.is_set():
            yield b"\x00" * 65536
            stop.wait(0.02)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(f"{url}/api/jobs", data=body(), timeout=60,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    result["status"] = response.status_code


def test_health_answers_in_milliseconds_even_during_an_upload(web: WebProcess) -> None:
    stop, result = threading.Event(), {}
    uploader = threading.Thread(target=_slow_upload, args=(web.url, stop, result))
    uploader.start()
    try:
        timings = []
        session = requests.Session()
        for _ in range(40):
            started = time.perf_counter()
            response = session.get(f"{web.url}/api/health", timeout=5)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.json()["status"] == "ok"
    finally:
        stop.set()
        uploader.join(timeout=30)
    assert result.get("status") == 202
    assert statistics.median(timings) < 0.05, timings
    assert max(timings) < 1.0, timings


def test_oversized_uploads_get_413_and_leave_no_file(
    fresh_redis: RedisServer, tmp_path: Path, async_mode: str
) -> None:
    data_dir = tmp_path / "data"
    web = start_web(fresh_redis.url, data_dir, async_mode, {"FFCLUSTER_MAX_UPLOAD_MB": "1"})
    try:
        sized = requests.post(f"{web.url}/api/jobs", timeout=30,
                              files={"file": ("big.mp4", b"\x00" * (2 * 1024 * 1024))})
        assert sized.status_code == 413
        assert sized.json() == {"error": "The upload is larger than 1 MiB."}
        chunks = iter([b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                       b"filename=\"a.mp4\"\r\n\r\n", *[b"\x00" * 65536] * 40, b"\r\n--b--\r\n"])
        chunked = requests.post(f"{web.url}/api/jobs", data=chunks, timeout=30,
                                headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert chunked.status_code == 413
        assert list((data_dir / "uploads").iterdir()) == []
        assert fresh_redis.client().zcard("ffc:jobs") == 0
    finally:
        web.stop()


def test_client_gets_events_emitted_by_another_process(
    web: WebProcess, fresh_redis: RedisServer
) -> None:
    job = submit(web.url)
    client = RecordingClient(web.url)
    try:
        assert client.subscribe(str(job["id"])) == {"ok": True}
        client.wait_for("job", lambda p: p["job_id"] == job["id"])
        wait_for_listeners(fresh_redis.client(), 1)

        store = JobStore(fresh_redis.client())
        store.set_state(str(job["id"]), JobState.PROBING)
        changed = store.set_state(str(job["id"]), JobState.ENCODING)
        emitter = events.EventEmitter(fresh_redis.url)
        emitter.emit(events.job_event(changed))
        emitter.emit(events.progress_event(changed.id, {"480p": {
            "percent": 42.5, "fps": 50.0, "bitrate_kbps": 900.0, "speed": 2.0, "eta_s": 3.0}}))

        encoding = client.wait_for(
            "job", lambda p: p["job_id"] == job["id"] and p["job"]["state"] == "encoding")
        assert encoding["type"] == "job" and encoding["v"] == events.EVENT_VERSION
        event = client.wait_for("progress", lambda p: p["job_id"] == job["id"])
        [progress] = per_rendition([event])
        assert {k: progress[k] for k in ("profile", "percent", "fps", "speed", "eta_s")} == {
            "profile": "480p", "percent": 42.5, "fps": 50.0, "speed": 2.0, "eta_s": 3.0}
        assert client.received("workers")[0]["workers"] == []
    finally:
        client.close()


def test_two_web_processes_share_events(
    fresh_redis: RedisServer, tmp_path: Path, async_mode: str
) -> None:
    data_dir = tmp_path / "data"
    first = start_web(fresh_redis.url, data_dir, async_mode)
    second = start_web(fresh_redis.url, data_dir, "threading" if async_mode == "eventlet"
                       else "eventlet")
    clients: list[RecordingClient] = []
    try:
        clients = [RecordingClient(second.url), RecordingClient(first.url)]
        wait_for_listeners(fresh_redis.client(), 2)
        job = submit(first.url)
        for client in clients:
            event = client.wait_for("job", lambda p: p["job_id"] == job["id"])
            assert event["job"]["state"] == "queued"
        canceled = requests.delete(f"{second.url}/api/jobs/{job['id']}", timeout=10)
        assert canceled.status_code == 200
        for client in clients:
            client.wait_for("job", lambda p: p["job_id"] == job["id"]
                            and p["job"]["state"] == "canceled")
        listed = requests.get(f"{second.url}/api/jobs", timeout=10).json()
        assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    finally:
        for client in clients:
            client.close()
        first.stop()
        second.stop()
