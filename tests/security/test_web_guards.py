"""The web tier against another site's page: DNS rebinding, cross-site posts, framing, slowloris."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import socketio

from common.settings import Settings
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with

EVIL = "rebind.evil.example"


@pytest.fixture(scope="module", params=["threading", "eventlet"])
def web(request: pytest.FixtureRequest, redis_server: RedisServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    settings = Settings.from_env({}, redis_url=redis_server.url,
                                 data_dir=tmp_path_factory.mktemp("web-data"), web_threads=8)
    process = start_web_with(settings, request.param)
    yield process
    process.stop()


def _raw(web: WebProcess, method: str, path: str, headers: dict[str, str],
         body: bytes | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(web.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(method, path, body=body, headers=headers)
    return connection.getresponse()


def _multipart(name: str = "clip.mp4") -> tuple[bytes, str]:
    boundary = "ffclusterboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: video/mp4\r\n\r\n").encode()
    body += b"\x00" * 1024 + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _total_jobs(web: WebProcess) -> int:
    return int(requests.get(f"{web.url}/api/jobs", timeout=5).json()["total"])


def test_another_host_name_gets_nothing(web: WebProcess) -> None:
    for path in ("/api/jobs", "/api/workers", "/", "/metrics"):
        answer = _raw(web, "GET", path, {"Host": EVIL})
        body = json.loads(answer.read())
        assert answer.status == 421, path
        assert list(body) == ["error"] and "FFCLUSTER_ALLOWED_HOSTS" in body["error"], body
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(web.url, headers={"Host": EVIL}, transports=["polling"], wait_timeout=5)
    ok = socketio.Client(reconnection=False)
    ok.connect(web.url, transports=["polling"], wait_timeout=5)
    assert ok.connected
    ok.disconnect()


def test_a_cross_site_post_creates_no_job(web: WebProcess) -> None:
    before = _total_jobs(web)
    body, content_type = _multipart()
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):
        answer = _raw(web, "POST", "/api/jobs", {"Content-Type": content_type, **headers}, body)
        assert answer.status == 403, headers
        assert b"another web site" in answer.read()
    assert _total_jobs(web) == before
    same = _raw(web, "POST", "/api/jobs",
                {"Content-Type": content_type, "Origin": web.url}, body)
    assert same.status == 202
    assert _total_jobs(web) == before + 1
    job_id = requests.get(f"{web.url}/api/jobs", timeout=5).json()["jobs"][0]["id"]
    cancel = _raw(web, "DELETE", f"/api/jobs/{job_id}", {"Origin": "http://evil.example"})
    assert cancel.status == 403
    assert requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json()["state"] != "canceled"


def test_pages_cannot_be_framed_and_run_only_our_scripts(web: WebProcess) -> None:
    page = requests.get(f"{web.url}/", timeout=5)
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and page.headers["X-Frame-Options"] == "DENY"
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in page.text
    assert "unsafe-inline" not in policy
    again = requests.get(f"{web.url}/", timeout=5).headers["Content-Security-Policy"]
    assert again != policy  # a fresh nonce for every page


def test_a_double_slash_never_redirects_through_the_host_header(web: WebProcess) -> None:
    answer = _raw(web, "GET", "//api/health", {"Host": "127.0.0.1"})
    answer.read()
    assert answer.status < 300 or answer.status >= 400
    assert answer.getheader("Location") is None


def _stalled_upload(web: WebProcess) -> socket.socket:
    parts = urlsplit(web.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\n"
                 b"Content-Length: 104857600\r\n\r\n--x\r\n")
    return sock


def accept_backlog(port: int) -> int | None:
    """Connections waiting in the kernel for the listening socket on ``port`` to accept."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            return int(queues.split(":")[1], 16)
    return None


def _threads_and_rss(pid: int) -> tuple[int, int]:
    status = {k: v for k, _, v in (line.partition(":") for line in
                                   (Path("/proc") / str(pid) / "status").read_text().splitlines())}
    return int(status["Threads"]), int(status["VmRSS"].split()[0])


def _server_pids(web: WebProcess) -> list[int]:
    children = Path(f"/proc/{web.process.pid}/task/{web.process.pid}/children")
    return [web.process.pid, *(int(p) for p in children.read_text().split())]


def test_stalled_uploads_are_bounded(web: WebProcess, request: pytest.FixtureRequest) -> None:
    if "threading" not in request.node.callspec.id:
        pytest.skip("eventlet serves connections as green threads, not OS threads")
    pids = _server_pids(web)
    before = {pid: _threads_and_rss(pid) for pid in pids}
    stalled = [_stalled_upload(web) for _ in range(60)]
    try:
        port = int(urlsplit(web.url).port or 0)
        wait_for(lambda: accept_backlog(port) == 0, timeout=10,
                 message="the server to accept every stalled connection")
        after = {pid: _threads_and_rss(pid) for pid in pids}
        for pid in pids:
            threads_added = after[pid][0] - before[pid][0]
            assert threads_added <= 8, f"{threads_added} threads for 60 stalled uploads"
            assert after[pid][1] - before[pid][1] < 60_000, "more than 60 MB for stalled uploads"
    finally:
        for sock in stalled:
            sock.close()
    wait_for(lambda: requests.get(f"{web.url}/api/health", timeout=2).status_code == 200,
             timeout=30, message="health once the stalled uploads are gone")
