"""Bad and hostile uploads through a real web process to a real worker and real FFmpeg.

Every bad upload ends ``failed`` within 10 s with a sentence, the worker keeps serving,
playlists never make FFmpeg read a file or fetch a URL, and nothing lands outside the
data dir. Valid media of odd shape or odd name encodes. Malformed API input is a 400.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.files import job_dir, outputs_dir, uploads_dir
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

FAIL_WITHIN_S = 10.0
STORED_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[a-z0-9]{1,10})?$")
ODD_NAME = "../../ét é $(rm -rf x);`id`.mp4"


class Listener:
    """A TCP listener that counts every connection made to it (it must stay at zero)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        while self._running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()


@dataclass
class Cluster:
    settings: Settings
    web: WebProcess
    worker: WorkerProcess
    listener: Listener
    private_dirs: list[Path]

    @property
    def api(self) -> str:
        return f"{self.web.url}/api"


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
            ladder_file: Path) -> Iterator[Cluster]:
    """One web process and one worker (concurrency 2) sharing a data dir, with a private
    TMPDIR and HOME each so that any write outside the data dir would show."""
    redis_server.client().flushall()
    root = tmp_path_factory.mktemp("hostile")
    settings = cluster_settings(redis_server.url, root / "data", ladder_file, concurrency=2)
    private = [root / "tmp", root / "home"]
    for directory in private:
        directory.mkdir()
    env = {"TMPDIR": str(private[0]), "HOME": str(private[1])}
    listener = Listener()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        worker = start_worker(settings, root / "logs", "hostile")
    web = start_web_with(settings, "threading", extra_env=env)
    yield Cluster(settings, web, worker, listener, private)
    web.stop()
    worker.stop()
    listener.close()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=60)


@pytest.fixture(scope="module")
def small(media_dir: Path) -> Path:
    """1 s 160x120 H.264 + AAC."""
    return make_clip(media_dir / "hostile-small.mp4", seconds=1.0, size="160x120")


def _claimed_size_avi(path: Path, width: int, height: int) -> Path:
    """A one-frame 16x16 raw-video AVI whose headers are rewritten to claim ``width``x``height``."""
    tiny = path.with_suffix(".tiny.avi")
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=16x16:d=0.04:r=25", "-frames:v", "1",
           "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(tiny))
    data = bytearray(tiny.read_bytes())
    avih, strf = data.find(b"avih"), data.find(b"strf")
    struct.pack_into("<II", data, avih + 8 + 32, width, height)  # dwWidth, dwHeight
    struct.pack_into("<ii", data, strf + 12, width, height)  # biWidth, biHeight
    path.write_bytes(bytes(data))
    tiny.unlink()
    return path


@pytest.fixture(scope="module")
def hostile_media(media_dir: Path) -> dict[str, Path]:
    work = media_dir / "hostile"
    work.mkdir(exist_ok=True)
    audio = work / "song.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio))
    png = work / "still.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1", str(png))
    secret = work / "secret.ts"  # a video outside the data dir that a playlist points at
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:duration=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-f", "mpegts", str(secret))
    return {"audio": audio, "png": png, "secret": secret,
            "huge": _claimed_size_avi(work / "huge.avi", 16384, 16384),
            "wide": _claimed_size_avi(work / "wide.avi", 16384, 8192)}


def hostile_files(media: dict[str, Path], small: Path, listener: Listener,
                  sibling: str) -> dict[str, tuple[str, bytes]]:
    """Case name -> (upload file name, bytes). ``sibling`` is another job's stored upload.

    The playlists that point at a local video (outside the data dir, or another user's
    upload) are ones plain ffprobe/FFmpeg follow and encode: only the guards stop them.
    """
    reads_file = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                  f"#EXTINF:1.0,\n{media['secret']}\n#EXT-X-ENDLIST\n").encode()
    fetches = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
               f"#EXTINF:10.0,\n{listener.url}segment.ts\n"
               "#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n").encode()
    concat = f"ffconcat version 1.0\nfile {sibling}\n".encode()
    passwd = f"ffconcat version 1.0\nfile /etc/passwd\nfile {listener.url}x.mp4\n".encode()
    return {
        "text named .mp4": ("notes.mp4", b"these are my notes, not a video\n" * 40),
        "truncated mp4": ("truncated.mp4", small.read_bytes()[:3000]),
        "audio only": ("song.m4a", media["audio"].read_bytes()),
        "still png": ("still.png", media["png"].read_bytes()),
        "still png named .mp4": ("still.mp4", media["png"].read_bytes()),
        "header claims 16384x16384": ("huge.avi", media["huge"].read_bytes()),
        "header claims 16384x8192": ("wide.avi", media["wide"].read_bytes()),
        "hls reading a local video": ("evil.m3u8", reads_file),
        "hls reading a local video named .mp4": ("evil.mp4", reads_file),
        "hls reading a local video named .avi": ("movie.avi", reads_file),
        "hls of passwd and an internal url": ("passwd.m3u8", fetches),
        "hls of passwd and an internal url named .mp4": ("passwd.mp4", fetches),
        "concat of another upload": ("list.ffconcat", concat),
        "concat of another upload named .mp4": ("concat.mp4", concat),
        "concat of passwd and an internal url named .avi": ("list.avi", passwd),
    }


def upload(cluster: Cluster, name: str, content: bytes, **fields: str) -> dict[str, Any]:
    response = requests.post(f"{cluster.api}/jobs", files={"file": (name, content)},
                             data=fields, timeout=30)
    assert response.status_code == 202, (name, response.status_code, response.text)
    return dict(response.json())


def job(cluster: Cluster, job_id: str) -> dict[str, Any]:
    response = requests.get(f"{cluster.api}/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def assert_sentence(message: Any, cluster: Cluster) -> None:
    assert isinstance(message, str) and len(message) > 10, message
    assert message[0].isupper() and message.rstrip(")").endswith("."), message
    assert "\n" not in message and "Traceback" not in message, message
    for secret in (str(cluster.settings.data_dir), "/tmp", "/etc/passwd", "root:", "uploads/"):
        assert secret not in message, (secret, message)


def test_hostile_uploads_fail_fast_with_a_sentence_while_the_worker_keeps_serving(
    cluster: Cluster, hostile_media: dict[str, Path], small: Path
) -> None:
    before = {d: tree(d) for d in cluster.private_dirs}
    empty = requests.post(f"{cluster.api}/jobs", files={"file": ("empty.mp4", b"")}, timeout=10)
    assert empty.status_code == 400 and "empty" in empty.json()["error"], empty.text

    submitted: dict[str, tuple[str, float]] = {}
    normal = upload(cluster, "normal.mp4", small.read_bytes(), profiles="144p")
    cases = hostile_files(hostile_media, small, cluster.listener, str(normal["source_file"]))
    for case, (name, content) in cases.items():
        submitted[case] = (str(upload(cluster, name, content)["id"]), time.monotonic())

    ended: dict[str, tuple[dict[str, Any], float]] = {}

    def all_ended() -> bool:
        for case, (job_id, _) in submitted.items():
            if case not in ended and (found := job(cluster, job_id))["state"] in (
                    "done", "failed", "canceled"):
                ended[case] = (found, time.monotonic())
        return len(ended) == len(submitted)

    wait_for(all_ended, timeout=FAIL_WITHIN_S + 20, interval=0.1, message="hostile jobs ended")
    for case, (found, at) in ended.items():
        assert found["state"] == "failed", (case, found)
        assert at - submitted[case][1] < FAIL_WITHIN_S, (case, at - submitted[case][1])
        assert_sentence(found["error"], cluster)
        assert not found["renditions"], (case, found["renditions"])
        out = job_dir(cluster.settings, found["id"])
        assert not out.exists() or not any(out.iterdir()), (case, tree(out))

    errors = {case: found["error"] for case, (found, _) in ended.items()}
    assert "audio-only" in errors["audio only"], errors
    assert "larger than this cluster accepts" in errors["header claims 16384x8192"], errors
    assert "16384x8192" in errors["header claims 16384x8192"], errors
    for case in cases:
        if "hls" in case or "concat" in case or "text" in case:
            assert "not a video file" in errors[case], (case, errors[case])

    assert wait_for(lambda: job(cluster, normal["id"])["state"] in ("done", "failed"),
                    timeout=60, interval=0.1, message="the normal job")
    finished = job(cluster, str(normal["id"]))
    assert finished["state"] == "done", finished
    assert cluster.worker.alive()

    assert cluster.listener.connections == 0, "a playlist made FFmpeg fetch an internal URL"
    assert {d: tree(d) for d in cluster.private_dirs} == before
    data_dir = cluster.settings.data_dir
    assert {p.name for p in data_dir.iterdir()} <= {
        "uploads", "outputs", cluster.web.log_path.name}, tree(data_dir)
    for stored in uploads_dir(cluster.settings).iterdir():
        assert STORED_NAME.match(stored.name), stored.name
    for output in outputs_dir(cluster.settings).rglob("*"):
        if output.is_file():
            assert b"root:" not in output.read_bytes()[:1 << 20], output


def test_one_frame_video_encodes(cluster: Cluster, media_dir: Path) -> None:
    one = make_clip(media_dir / "one-frame.mp4", seconds=0.04, size="160x120", audio=False)
    created = upload(cluster, "one-frame.mp4", one.read_bytes(), profiles="144p")
    found = wait_for(lambda: (j := job(cluster, str(created["id"])))["state"] in (
        "done", "failed") and j, timeout=60, interval=0.1, message="one-frame job")
    assert found["state"] == "done", found
    assert found["source"]["frames"] in (1, None) and found["renditions"][0]["size_bytes"] > 0


def test_odd_file_name_encodes_under_a_safe_stored_name(cluster: Cluster, small: Path) -> None:
    created = upload(cluster, ODD_NAME, small.read_bytes(), profiles="144p")
    job_id = str(created["id"])
    assert created["source_name"] == "ét é $(rm -rf x);`id`.mp4"
    assert created["source_file"] == f"{job_id}.mp4"
    found = wait_for(lambda: (j := job(cluster, job_id))["state"] in ("done", "failed") and j,
                     timeout=60, interval=0.1, message="odd-name job")
    assert found["state"] == "done", found
    assert found["source_name"] == created["source_name"]
    listed = requests.get(f"{cluster.api}/jobs", timeout=10).json()["jobs"]
    assert any(j["id"] == job_id and j["source_name"] == created["source_name"] for j in listed)
    stored = uploads_dir(cluster.settings) / f"{job_id}.mp4"
    assert stored.read_bytes() == small.read_bytes()
    assert all(STORED_NAME.match(p.name) for p in uploads_dir(cluster.settings).iterdir())
    out = job_dir(cluster.settings, job_id)
    rendition = found["renditions"][0]
    assert (out / rendition["output"]).stat().st_size == rendition["size_bytes"]


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0und") -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_malformed_api_input_is_400_never_500(cluster: Cluster) -> None:
    api = cluster.api
    uploads = uploads_dir(cluster.settings)
    before = tree(uploads) if uploads.exists() else []
    jobs_before = requests.get(f"{api}/jobs", timeout=10).json()["total"]
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2048
    multipart = {"Content-Type": "multipart/form-data; boundary=b0und"}

    def post(**kwargs: Any) -> requests.Response:
        return requests.post(f"{api}/jobs", timeout=30, **kwargs)

    cases: dict[str, requests.Response] = {
        "json body": post(json={"file": "x.mp4", "profiles": ["480p"]}),
        "form body": post(data={"file": "x.mp4"}),
        "plain text body": post(data=b"hello", headers={"Content-Type": "text/plain"}),
        "no body": post(),
        "multipart without boundary": post(data=b"x",
                                           headers={"Content-Type": "multipart/form-data"}),
        "garbage multipart": post(data=b"--b0und\r\nnot a part", headers=multipart),
        "no file part": post(data=_multipart([("mode", None, b"encode")]), headers=multipart),
        "two files": post(data=_multipart([("file", "a.mp4", video), ("file", "b.mp4", video)]),
                          headers=multipart),
        "file in another field": post(data=_multipart([("video", "a.mp4", video)]),
                                      headers=multipart),
        "unknown profile": post(files={"file": ("a.mp4", video)}, data={"profiles": "4k"}),
        "profiles of wrong type": post(files={"file": ("a.mp4", video)},
                                       data={"profiles": '{"a": [1, 2]}'}),
        "profiles as a file": post(data=_multipart([("profiles", "p.txt", b"480p"),
                                                    ("file", "a.mp4", video)]),
                                   headers=multipart),
        "binary profiles": post(data=_multipart([("profiles", None, b"\xff\xfe\x00\x01"),
                                                 ("file", "a.mp4", video)]), headers=multipart),
        "huge field": post(files={"file": ("a.mp4", video)}, data={"profiles": "480p," * 5000}),
        "bad mode": post(files={"file": ("a.mp4", video)}, data={"mode": "transcode"}),
        "numeric mode": post(files={"file": ("a.mp4", video)}, data={"mode": "42"}),
        "huge part header": post(data=_multipart([("file", "a" * (3 << 20) + ".mp4", video)]),
                                 headers=multipart),
        "non-numeric limit": requests.get(f"{api}/jobs?limit=ten", timeout=10),
        "negative offset": requests.get(f"{api}/jobs?offset=-1", timeout=10),
        "huge limit": requests.get(f"{api}/jobs?limit={10**40}", timeout=10),
    }
    statuses = {case: response.status_code for case, response in cases.items()}
    assert all(status == 400 for status in statuses.values()), statuses
    for case, response in cases.items():
        body = response.json()
        assert set(body) == {"error"}, (case, body)
        assert_sentence(body["error"], cluster)

    not_found = {
        "long id": requests.get(f"{api}/jobs/{'x' * 5000}", timeout=10),
        "traversal id": requests.get(f"{api}/jobs/..%2F..%2Fetc%2Fpasswd", timeout=10),
        "retry of nothing": requests.post(f"{api}/jobs/nope/retry", timeout=10),
        "cancel of nothing": requests.delete(f"{api}/jobs/nope", timeout=10),
    }
    assert {c: r.status_code for c, r in not_found.items()} == dict.fromkeys(not_found, 404)

    assert (tree(uploads) if uploads.exists() else []) == before
    assert requests.get(f"{api}/jobs", timeout=10).json()["total"] == jobs_before
    log = cluster.web.log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


def test_downloads_never_leave_the_job_output_dir(cluster: Cluster, small: Path) -> None:
    created = upload(cluster, "clip.mp4", small.read_bytes(), profiles="144p")
    job_id = str(created["id"])
    wait_for(lambda: job(cluster, job_id)["state"] == "done", timeout=60, interval=0.1,
             message="download job")
    base = f"{cluster.api}/jobs/{job_id}/outputs"
    parts = urlsplit(cluster.api)
    guarded = (f"../../uploads/{job_id}.mp4", f"..\\..\\uploads\\{job_id}.mp4",
               "..%2F..%2Fuploads%2F" + f"{job_id}.mp4", ".chunks/x", "../../../../etc/passwd")
    for name in (*guarded, "/etc/passwd", "%2Fetc%2Fpasswd", "....//....//etc/passwd"):
        # Raw request line: an HTTP library would normalise ``..`` away before sending.
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", f"{urlsplit(base).path}/{name}")
        response = connection.getresponse()
        body = response.read()
        assert response.status in (404, 400), (name, response.status)
        assert b"root:" not in body and b"ftyp" not in body, name
        if name in guarded:  # refused by the download guard itself, not by routing
            assert b"has no output named" in body, (name, body)
    served = requests.get(f"{base}/{job(cluster, job_id)['renditions'][0]['output']}",
                          timeout=10)
    assert served.status_code == 200 and served.content[4:8] == b"ftyp"

