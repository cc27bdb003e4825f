"""Workers that share nothing but Redis and the object store, on hosts of their own.

Host A runs Redis and the web tier, hosts B and C one worker each, host D the S3 server
(moto). Each host is a network namespace with its own folder; the test talks to A and D
over the bridge. Jobs finish with every output in the bucket and nothing in A's data dir
but Redis's files; a worker cut off mid-encode loses its work to the other and, back on
the network, changes nothing; a worker killed mid-upload leaves no partial object.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from common import keys, registry
from common.settings import Settings
from tests.support import hosts
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer, start_redis
from tests.support.s3 import CREDENTIALS, S3Server, start_s3
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

BUCKET = "farm"
WEB_PORT, REDIS_PORT, S3_PORT = 5000, 6379, 9000
LADDER = {"profiles": [  # the default ladder's rungs, at a faster preset for a 2-core box
    {"name": "1080p", "height": 1080, "video_bitrate_kbps": 5000, "preset": "veryfast"},
    {"name": "720p", "height": 720, "video_bitrate_kbps": 2800, "preset": "veryfast"},
    {"name": "480p", "height": 480, "video_bitrate_kbps": 1400, "preset": "veryfast",
     "audio_bitrate_kbps": 96},
]}


@dataclass
class Farm:
    net: hosts.Network
    redis: RedisServer
    s3: S3Server
    web: WebProcess
    workers: dict[str, WorkerProcess]
    settings: dict[str, Settings]

    @property
    def client(self) -> redis.Redis:
        return self.redis.client()

    def host_of(self, worker_hostname: str) -> str:
        return next(h for h, w in self.workers.items() if worker_hostname.startswith(f"{w.name}@"))

    def start_worker(self, host_name: str) -> WorkerProcess:
        host = self.net.hosts[host_name]
        logs = host.folder(f"logs/worker-{len(host.processes)}")  # a restart keeps the old log
        worker = start_worker(self.settings[host_name], logs, f"host{host_name}",
                              argv_prefix=host.argv)
        host.processes.append(worker.process)
        self.workers[host_name] = worker
        return worker


def _settings(host: hosts.Host, redis_url: str, s3_url: str) -> Settings:
    """A host's settings: only its own folder's paths, and the shared services' addresses."""
    ladder = host.folder("etc") / "ladder.json"
    ladder.write_text(json.dumps(LADDER))
    return Settings.from_env(
        {}, redis_url=redis_url, data_dir=host.folder("data"), profiles_file=ladder,
        storage="s3", s3_bucket=BUCKET, s3_endpoint_url=s3_url, s3_region="us-east-1",
        s3_part_mb=5, scratch_dir=host.folder("scratch"), heartbeat_s=0.5, lease_s=3,
        concurrency=1, gpu="off", ffmpeg_nice=0, s3_attempts=3)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    reason = hosts.available()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("hosts")
    with pytest.MonkeyPatch.context() as patch, hosts.network(root, "abcd") as net:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        a, d = net.hosts["a"], net.hosts["d"]
        server = start_redis(a.folder("data") / "redis", port=REDIS_PORT, host=a.address,
                             argv_prefix=a.argv)
        a.processes.append(server.process)
        s3 = start_s3(d.folder("logs"), host=d.address, port=S3_PORT, argv_prefix=d.argv)
        d.processes.append(s3.process)
        s3.create_bucket(BUCKET)
        settings = {name: _settings(host, server.url, s3.url) for name, host in net.hosts.items()}
        web = start_web_with(settings["a"], "threading", port=WEB_PORT, argv_prefix=a.argv,
                             host=a.address, log_dir=a.folder("logs"),
                             extra_env={"FFCLUSTER_ALLOWED_HOSTS": a.address})
        a.processes.append(web.process)
        farm = Farm(net, server, s3, web, {}, settings)
        for name in ("b", "c"):
            farm.start_worker(name)
        yield farm
    assert net.leftovers() == [], "the test network was not removed"


@pytest.fixture(scope="module")
def source_1080p(media_dir: Path) -> Path:
    return make_clip(media_dir / "farm-1080p.mp4", seconds=2, size="1920x1080")


@pytest.fixture(scope="module")
def long_1080p(media_dir: Path) -> Path:
    """Long enough to be cut off mid-encode (about 4 to 9 s of libx264 here)."""
    return make_clip(media_dir / "farm-long.mp4", seconds=8, size="1920x1080")


def _submit(farm: Farm, clip: Path, **fields: str) -> str:
    with clip.open("rb") as handle:
        response = requests.post(f"{farm.web.url}/api/jobs", data=fields, timeout=60,
                                 files={"file": (clip.name, handle)})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _job(farm: Farm, job_id: str) -> dict[str, Any]:
    return requests.get(f"{farm.web.url}/api/jobs/{job_id}", timeout=10).json()


def _finished(farm: Farm, job_id: str, timeout: float = 240) -> dict[str, Any]:
    job = wait_for(lambda: (j := _job(farm, job_id))["state"] in ("done", "failed", "canceled")
                   and j, timeout=timeout, interval=0.25, message=f"job {job_id}")
    assert job["state"] == "done", json.dumps(job, indent=1)
    return job


def _objects(farm: Farm, job_id: str) -> dict[str, str]:
    """Every object of the job's outputs, with its ETag."""
    listing = farm.s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"ffcluster/outputs/{job_id}/")
    return {item["Key"]: item["ETag"] for item in listing.get("Contents", [])}


def _data_files(host: hosts.Host) -> list[str]:
    data = host.root / "data"
    return sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())


def test_a_1080p_ladder_lands_in_the_bucket_from_both_worker_hosts(
    farm: Farm, source_1080p: Path, tmp_path: Path,
) -> None:
    job = _finished(farm, _submit(farm, source_1080p))
    assert [r["profile"] for r in job["renditions"]] == ["1080p", "720p", "480p"]
    assert {farm.host_of(r["worker"]) for r in job["renditions"]} == {"b", "c"}
    objects = _objects(farm, job["id"])
    prefix = f"ffcluster/outputs/{job['id']}/"
    for name in ("1080p.mp4", "720p.mp4", "480p.mp4", "poster.jpg", "hls/master.m3u8",
                 "hls/1080p/index.m3u8"):
        assert prefix + name in objects, sorted(objects)
    for rendition in job["renditions"]:  # what a viewer gets through the web tier
        local = tmp_path / rendition["output"]
        url = f"{farm.web.url}/api/jobs/{job['id']}/outputs/{rendition['output']}"
        local.write_bytes(requests.get(url, timeout=30).content)
        video = stream(ffprobe(local), "video")
        assert video is not None and video["height"] == int(rendition["profile"][:-1])
    a = farm.net.hosts["a"]
    assert all(name.startswith("redis/") for name in _data_files(a)), _data_files(a)


def test_split_and_stitch_spreads_slices_over_both_hosts(farm: Farm, media_dir: Path) -> None:
    clip = make_clip(media_dir / "farm-chunked.mp4", seconds=16, size="640x360")
    job = _finished(farm, _submit(farm, clip, profiles="480p", chunk_seconds="4", hls="true"))
    [rendition] = job["renditions"]
    assert rendition["chunks"] == 4
    assert {farm.host_of(w) for w in rendition["chunk_workers"]} == {"b", "c"}, rendition
    objects = _objects(farm, job["id"])
    assert not any("/.chunks/" in key for key in objects), sorted(objects)
    assert f"ffcluster/outputs/{job['id']}/480p.mp4" in objects


def _encoding_on(farm: Farm, job_id: str) -> tuple[str, dict[str, Any]] | None:
    job = _job(farm, job_id)
    [rendition] = job["renditions"] or [None]
    if rendition and rendition["state"] == "encoding" and rendition["percent"] > 5:
        return farm.host_of(rendition["worker"]), job
    return None


def _settled(farm: Farm, host_name: str, since: float) -> bool:
    """The host's worker heartbeats again and holds no work."""
    worker = farm.workers[host_name]
    seen = [w for w in registry.list_workers(farm.client) if w.hostname.startswith(worker.name)]
    return bool(seen and seen[0].last_seen > since and not seen[0].tasks
                and not farm.client.smembers(keys.worker_tasks(seen[0].hostname)))


def test_a_partitioned_worker_loses_its_work_and_changes_nothing_when_back(
    farm: Farm, long_1080p: Path,
) -> None:
    job_id = _submit(farm, long_1080p, profiles="1080p", hls="false")
    victim, _ = wait_for(lambda: _encoding_on(farm, job_id), timeout=60, interval=0.1,
                         message="the rendition encoding on a worker host")
    other = "c" if victim == "b" else "b"
    host = farm.net.hosts[victim]
    host.cut()
    try:
        job = _finished(farm, job_id)
        [rendition] = job["renditions"]
        assert farm.host_of(rendition["worker"]) == other and rendition["attempts"] >= 2
        objects = _objects(farm, job_id)
        cut_off_at = farm.client.time()[0]
    finally:
        host.restore()
    wait_for(lambda: _settled(farm, victim, cut_off_at), timeout=90, interval=0.5,
             message=f"host {victim}'s worker back online with nothing running")
    assert _job(farm, job_id) == job
    assert _objects(farm, job_id) == objects


def test_a_worker_killed_mid_upload_leaves_no_partial_object(
    farm: Farm, media_dir: Path,
) -> None:
    clip = make_clip(media_dir / "farm-heavy.mp4", seconds=2, size="1280x720",
                     extra=["-vf", "noise=alls=20:allf=t", "-qp", "16"])
    assert clip.stat().st_size > 8 * 1024 * 1024  # several 5 MiB parts: a multipart upload
    for name in ("b", "c"):
        farm.net.hosts[name].throttle("16mbit")
    try:
        job_id = _submit(farm, clip, mode="passthrough", hls="false")
        output = f"ffcluster/outputs/{job_id}/"
        wait_for(lambda: any(k.startswith(output) for k in farm.s3.unfinished_uploads(BUCKET)),
                 timeout=90, interval=0.05, message="a multipart upload of the output under way")
        victim = farm.host_of(_job(farm, job_id)["renditions"][0]["worker"])
        worker = farm.workers[victim]
        os.killpg(worker.pid, signal.SIGKILL)  # the whole tree: Celery, its pool, FFmpeg
        worker.process.wait()
        assert _objects(farm, job_id) == {}
        for name in ("b", "c"):
            farm.net.hosts[name].unthrottle()
        job = _finished(farm, job_id)
    finally:
        for name in ("b", "c"):
            farm.net.hosts[name].unthrottle()
    [rendition] = job["renditions"]
    assert rendition["attempts"] >= 2 and farm.host_of(rendition["worker"]) != victim
    head = farm.s3.client().head_object(Bucket=BUCKET, Key=f"{output}{rendition['output']}")
    assert head["ContentLength"] == rendition["size_bytes"]
    farm.start_worker(victim)  # the farm is whole again for any later test


def test_the_object_store_going_away_fails_the_rendition_and_loses_nothing_published(
    farm: Farm, long_1080p: Path, media_dir: Path,
) -> None:
    small = make_clip(media_dir / "farm-small.mp4", seconds=2, size="640x360")
    earlier = _finished(farm, _submit(farm, small, profiles="480p"))
    published = _objects(farm, earlier["id"])
    assert published
    job_id = _submit(farm, long_1080p, profiles="480p", hls="false")
    wait_for(lambda: _encoding_on(farm, job_id), timeout=60, interval=0.05,
             message="the rendition encoding on a worker host")
    store = farm.net.hosts["d"]
    store.cut()
    try:
        failed = wait_for(lambda: (j := _job(farm, job_id))["state"] in ("done", "failed") and j,
                          timeout=120, interval=0.25, message="the job to end")
    finally:
        store.restore()
    assert failed["state"] == "failed"
    [rendition] = failed["renditions"]
    assert rendition["state"] == "failed"
    assert "could not be reached while uploading" in rendition["error"], rendition["error"]
    assert "after 3 attempts" in rendition["error"]
    assert _objects(farm, earlier["id"]) == published
    again = requests.post(f"{farm.web.url}/api/jobs/{job_id}/retry", timeout=10)
    assert again.status_code == 202, again.text
    assert _finished(farm, job_id)["renditions"][0]["state"] == "done"
