"""`s3` storage end to end: a web tier and a worker that share no directory, only Redis and
a real S3 API (moto's server). Every file of a job is in the bucket; neither data dir holds one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import REPO_ROOT, WorkerProcess, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUCKET = "media"


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Server:
    s3_server.create_bucket(BUCKET)
    return s3_server


def _s3_settings(s3: S3Server, redis_server: RedisServer, data_dir: Path, ladder: Path,
                 **overrides: Any) -> Settings:
    return cluster_settings(redis_server.url, data_dir, ladder, storage="s3", s3_bucket=BUCKET,
                            s3_endpoint_url=s3.url, s3_region="us-east-1", s3_part_mb=5,
                            scratch_dir=data_dir / "scratch", **overrides)


@pytest.fixture(scope="module")
def web_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-host")


@pytest.fixture(scope="module")
def worker_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-host")


@pytest.fixture(scope="module")
def web(s3: S3Server, redis_server: RedisServer, web_host: Path,
        ladder_file: Path) -> Iterator[WebProcess]:
    settings = _s3_settings(s3, redis_server, web_host, ladder_file, max_upload_mb=6)
    process = start_web_with(settings, "threading")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def worker(s3: S3Server, redis_server: RedisServer, worker_host: Path, ladder_file: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    settings = _s3_settings(s3, redis_server, worker_host, ladder_file)
    process = start_worker(settings, tmp_path_factory.mktemp("logs"), "s3w1")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    return make_clip(media_dir / "s3-mode.mp4", seconds=6, size="640x360")


def _submit(web: WebProcess, clip: Path, **fields: str) -> dict[str, Any]:
    with clip.open("rb") as handle:
        response = requests.post(f"{web.url}/api/jobs", files={"file": ("Show.mp4", handle)},
                                 data=fields, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json()
        return job if job["state"] in ("done", "failed", "canceled") else None

    job = wait_for(finished, timeout=180, interval=0.2, message=f"job {job_id}")
    assert job["state"] == "done", job
    return job


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_every_file_of_a_job_is_in_the_bucket_and_served_from_it(
    web: WebProcess, worker: WorkerProcess, s3: S3Server, source: Path, web_host: Path,
    worker_host: Path, tmp_path: Path,
) -> None:
    job = _submit(web, source, profiles="240p,144p", hls="true")
    job_id = job["id"]
    keys = s3.keys(BUCKET, "ffcluster/")
    assert f"ffcluster/uploads/{job['source_file']}" in keys
    outputs = [k.removeprefix(f"ffcluster/outputs/{job_id}/") for k in keys
               if k.startswith(f"ffcluster/outputs/{job_id}/")]
    for name in ("240p.mp4", "144p.mp4", "poster.jpg", "hls/master.m3u8",
                 "hls/240p/index.m3u8", "hls/144p/index.m3u8"):
        assert name in outputs, outputs
    assert any(name.startswith("hls/240p/") and name.endswith(".m4s") for name in outputs)
    assert not any("/." in f"/{name}" or name.endswith(".part") for name in outputs), outputs
    assert s3.unfinished_uploads(BUCKET) == []

    for rendition in job["renditions"]:
        url = f"{web.url}/api/jobs/{job_id}/outputs/{rendition['output']}"
        part = requests.get(url, headers={"Range": "bytes=0-11"}, timeout=10)
        assert part.status_code == 206 and part.content[4:8] == b"ftyp"
        assert part.headers["Content-Range"].endswith(f"/{rendition['size_bytes']}")
        local = tmp_path / rendition["output"]
        local.write_bytes(requests.get(url, timeout=10).content)
        video = stream(ffprobe(local), "video")
        assert video is not None and video["height"] == rendition["height"]
        assert rendition["codecs"].startswith("avc1.") and rendition["bandwidth"] > 0
    master = requests.get(f"{web.url}/api/jobs/{job_id}/outputs/{job['master_playlist']}",
                          timeout=10)
    assert master.status_code == 200 and "CODECS=\"avc1." in master.text
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert requests.get(f"{web.url}/api/jobs/{job_id}/outputs/none.mp4",
                        timeout=10).status_code == 404

    assert not (web_host / "uploads").exists() and not (web_host / "outputs").exists()
    assert not (worker_host / "uploads").exists() and not (worker_host / "outputs").exists()
    assert _files_under(worker_host / "scratch" / "tasks") == []
    wait_for(lambda: _files_under(worker_host / "scratch" / "cache") == [], timeout=10,
             message="the worker's cached source removed once the job ended")


def test_a_split_and_stitched_job_leaves_only_its_outputs(
    web: WebProcess, worker: WorkerProcess, s3: S3Server, source: Path,
) -> None:
    job = _submit(web, source, profiles="240p", hls="false", chunk_seconds="2")
    [rendition] = job["renditions"]
    assert rendition["chunks"] >= 2
    keys = s3.keys(BUCKET, f"ffcluster/outputs/{job['id']}/")
    assert keys == [f"ffcluster/outputs/{job['id']}/240p.mp4",
                    f"ffcluster/outputs/{job['id']}/poster.jpg"]


def test_an_upload_over_the_limit_leaves_nothing_in_the_bucket(
    web: WebProcess, s3: S3Server,
) -> None:
    before = s3.keys(BUCKET, "ffcluster/uploads/")
    boundary = "XBOUNDARY"

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it early
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.mp4\"\r\n\r\n").encode()
        for _ in range(10):
            yield os.urandom(1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(f"{web.url}/api/jobs", data=body(), timeout=30,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and "larger than 6 MiB" in response.json()["error"]
    assert s3.keys(BUCKET, "ffcluster/uploads/") == before
    assert s3.unfinished_uploads(BUCKET) == []


TUS = {"Tus-Resumable": "1.0.0"}
MIB = 1024 * 1024


def test_an_s3_source_url_is_read_with_the_clusters_credentials(
    web: WebProcess, worker: WorkerProcess, s3: S3Server, source: Path,
) -> None:
    s3.client().put_object(Bucket=BUCKET, Key="incoming/Camera 1.mp4", Body=source.read_bytes())
    answer = requests.post(f"{web.url}/api/jobs", timeout=10, json={
        "source_url": f"s3://{BUCKET}/incoming/Camera%201.mp4", "profiles": "144p",
        "hls": False})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    job = wait_for(lambda: (j := requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json())
                   ["state"] in ("done", "failed") and j, timeout=120, interval=0.2,
                   message="the s3:// job")
    assert job["state"] == "done", job
    assert (job["source_name"], job["size_bytes"]) == ("Camera 1.mp4", source.stat().st_size)
    stored = s3.client().get_object(Bucket=BUCKET, Key=f"ffcluster/uploads/{job['source_file']}")
    assert stored["Body"].read() == source.read_bytes()
    missing = requests.post(f"{web.url}/api/jobs", timeout=10, json={
        "source_url": f"s3://{BUCKET}/incoming/nothing.mp4"}).json()["id"]
    failed = wait_for(lambda: (j := requests.get(f"{web.url}/api/jobs/{missing}", timeout=5)
                               .json())["state"] == "failed" and j, timeout=60, interval=0.2,
                      message="the missing object's job to fail")
    assert failed["error"] == f"The object s3://{BUCKET}/incoming/nothing.mp4 could not be " \
                              "read (NoSuchKey)."


def _create_upload(web: WebProcess, length: int) -> str:
    meta = f"filename {base64.b64encode(b'Big.mov').decode()},hls " \
           f"{base64.b64encode(b'false').decode()}"
    created = requests.post(f"{web.url}/api/uploads", timeout=10, headers={
        **TUS, "Upload-Length": str(length), "Upload-Metadata": meta})
    assert created.status_code == 201, created.text
    return str(created.headers["Location"])


def _patch(url: str, offset: int, body: bytes, **headers: str) -> requests.Response:
    return requests.patch(url, data=body, timeout=30, headers={
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
        **headers})


def test_a_resumable_upload_becomes_one_multipart_object_in_the_bucket(
    web: WebProcess, s3: S3Server,
) -> None:
    data = os.urandom(5 * MIB + MIB // 2)  # more than one 5 MiB part
    url = _create_upload(web, len(data))
    assert _patch(url, 0, data[:3 * MIB]).status_code == 204  # a tail only, no part yet
    wrong = base64.b64encode(hashlib.sha1(b"x").digest()).decode()
    assert _patch(url, 3 * MIB, data[3 * MIB:4 * MIB],
                  **{"Upload-Checksum": f"sha1 {wrong}"}).status_code == 460
    assert requests.head(url, headers=TUS, timeout=5).headers["Upload-Offset"] == str(3 * MIB)
    assert s3.keys(BUCKET, "ffcluster/uploads/Big") == []  # nothing visible before the end
    done = _patch(url, 3 * MIB, data[3 * MIB:])  # fills part 1, the rest is the last part
    assert done.status_code == 204
    job_id = done.headers["FFcluster-Job-Id"]
    key = f"ffcluster/uploads/{job_id}.mov"
    assert key in s3.keys(BUCKET, "ffcluster/uploads/")
    stored = s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert s3.keys(BUCKET, "ffcluster/uploads/.tus/") == []
    assert s3.unfinished_uploads(BUCKET) == []


def test_a_terminated_resumable_upload_leaves_nothing_in_the_bucket(
    web: WebProcess, s3: S3Server,
) -> None:
    url = _create_upload(web, 6 * MIB)
    assert _patch(url, 0, os.urandom(5 * MIB + 1000)).status_code == 204  # one part sent
    assert len(s3.unfinished_uploads(BUCKET)) == 1
    assert requests.delete(url, headers=TUS, timeout=5).status_code == 204
    assert s3.unfinished_uploads(BUCKET) == []
    assert s3.keys(BUCKET, "ffcluster/uploads/.tus/") == []


@pytest.mark.parametrize("command", ["web", "worker"])
def test_a_missing_bucket_stops_start_up_with_one_sentence(
    s3: S3Server, redis_server: RedisServer, tmp_path: Path, command: str,
) -> None:
    settings = Settings.from_env({}, redis_url=redis_server.url, data_dir=tmp_path,
                                 storage="s3", s3_bucket="no-such-bucket",
                                 s3_endpoint_url=s3.url, s3_region="us-east-1")
    env = {**os.environ, **settings.environment(), "FFCLUSTER_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "cli.main", command], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("ffcluster")]
    assert lines == [f"ffcluster: The bucket 'no-such-bucket' at {s3.url} does not exist."], (
        done.stderr)
