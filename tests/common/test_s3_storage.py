"""S3 storage against a real S3 API (moto's server as its own process): whole objects only."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from common.s3 import S3Storage
from common.settings import Settings
from common.storage import PublishAborted, StorageError, StorageUnavailable, open_storage
from tests.support.ports import free_port
from tests.support.s3 import S3Server

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Server:
    return s3_server


def _storage(s3: S3Server, tmp_path: Path, bucket: str | None = None) -> S3Storage:
    if bucket is None:
        bucket = s3.create_bucket(f"b-{secrets.token_hex(4)}")
    settings = Settings(storage="s3", s3_bucket=bucket, s3_endpoint_url=s3.url,
                        s3_region="us-east-1", scratch_dir=tmp_path / "scratch", s3_part_mb=5,
                        s3_attempts=2)
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    return storage


def test_an_upload_streamed_in_parts_appears_whole(s3: S3Server, tmp_path: Path) -> None:
    storage = _storage(s3, tmp_path)
    payload = os.urandom(12 * MIB + 123)
    writer = storage.writer("uploads/abc.mp4")
    for start in range(0, len(payload), MIB):
        writer.write(payload[start:start + MIB])
        assert len(writer.buffer) < 5 * MIB  # never more than one part in memory
    assert s3.keys(storage.bucket) == []  # nothing visible before the commit
    writer.commit()
    assert s3.keys(storage.bucket) == ["ffcluster/uploads/abc.mp4"]
    body = s3.client().get_object(Bucket=storage.bucket, Key="ffcluster/uploads/abc.mp4")
    assert body["Body"].read() == payload
    assert s3.unfinished_uploads(storage.bucket) == []


def test_an_aborted_upload_leaves_nothing(s3: S3Server, tmp_path: Path) -> None:
    storage = _storage(s3, tmp_path)
    writer = storage.writer("uploads/big.mp4")
    writer.write(os.urandom(11 * MIB))
    assert s3.unfinished_uploads(storage.bucket) == ["ffcluster/uploads/big.mp4"]
    writer.abort()
    assert s3.keys(storage.bucket) == []
    assert s3.unfinished_uploads(storage.bucket) == []


def test_workspace_fetches_publishes_and_is_removed(s3: S3Server, tmp_path: Path) -> None:
    storage = _storage(s3, tmp_path)
    writer = storage.writer("uploads/src.mp4")
    writer.write(b"source bytes")
    writer.commit()
    with storage.workspace() as ws:
        root = ws.root
        source = ws.fetch("uploads/src.mp4")
        assert source.read_bytes() == b"source bytes"
        assert source == storage.cached("uploads/src.mp4")  # one copy per host, kept
        out = ws.path("outputs/j1/hls/720p/index.m3u8")
        out.parent.mkdir(parents=True)
        out.write_text("#EXTM3U\n")
        (out.parent / "seg_00000.m4s").write_bytes(os.urandom(7 * MIB))
        ws.publish_tree("outputs/j1/hls/720p")
    assert not root.exists()
    assert storage.keys("outputs/j1") == ["outputs/j1/hls/720p/index.m3u8",
                                          "outputs/j1/hls/720p/seg_00000.m4s"]
    assert storage.cached_keys() == ["uploads/src.mp4"]
    storage.evict_cached("uploads/src.mp4")
    assert storage.cached_keys() == []
    with storage.workspace() as ws, pytest.raises(StorageError, match="missing from the bucket"):
        ws.fetch("outputs/j1/nothing.mp4")


def test_a_guard_that_says_no_stops_the_upload_and_nothing_appears(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = _storage(s3, tmp_path)
    with storage.workspace() as ws:
        big = ws.path("outputs/j2/720p.mp4")
        big.parent.mkdir(parents=True)
        big.write_bytes(os.urandom(16 * MIB))
        with pytest.raises(PublishAborted):
            ws.publish("outputs/j2/720p.mp4", guard=lambda: False)
        answers = iter([True])  # yes at the start, then no while the parts go up
        monkeypatch.setattr("common.s3.GUARD_EVERY_S", 0.0)
        with pytest.raises(PublishAborted):
            ws.publish("outputs/j2/720p.mp4", guard=lambda: next(answers, False))
    assert s3.keys(storage.bucket) == []
    assert s3.unfinished_uploads(storage.bucket) == []


def test_ranges_and_missing_objects_read_as_http_says(s3: S3Server, tmp_path: Path) -> None:
    storage = _storage(s3, tmp_path)
    writer = storage.writer("outputs/j3/poster.jpg")
    writer.write(bytes(range(256)) * 4)
    writer.commit()
    part = storage.open("outputs/j3/poster.jpg", "bytes=10-19")
    assert part is not None and part.status == 206
    assert b"".join(part.body) == bytes(range(10, 20))
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    assert part.headers["Content-Type"] == "image/jpeg"
    whole = storage.open("outputs/j3/poster.jpg")
    assert whole is not None and whole.status == 200 and len(b"".join(whole.body)) == 1024
    assert storage.open("outputs/j3/none.jpg") is None
    past_end = storage.open("outputs/j3/poster.jpg", "bytes=5000-")
    assert past_end is not None and past_end.status == 416


def test_start_up_check_names_a_missing_bucket_and_an_unreachable_store(s3: S3Server,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match=r"bucket 'no-such-bucket' at .* does not exist"):
        _storage(s3, tmp_path, bucket="no-such-bucket").check()
    nobody = Settings(storage="s3", s3_bucket="b", s3_attempts=1, scratch_dir=tmp_path,
                      s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageUnavailable, match="could not be reached"):
        open_storage(nobody).check()


def test_scratch_of_dead_task_processes_and_sources_of_ended_jobs_go(s3: S3Server,
                                                                     tmp_path: Path) -> None:
    import fakeredis

    from common.jobs import Job
    from common.states import JobState
    from common.store import JobStore
    from workers.runtime.retention import evict_finished_sources

    storage = _storage(s3, tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (storage.scratch / "tasks" / f"{dead.pid}-abcd" / "outputs").mkdir(parents=True)
    (storage.scratch / "tasks" / f"{os.getpid()}-abcd").mkdir(parents=True)
    storage.clear_scratch()
    assert [p.name for p in (storage.scratch / "tasks").iterdir()] == [f"{os.getpid()}-abcd"]

    store = JobStore(fakeredis.FakeRedis())
    running = store.create(Job.new("a.mp4", "", state=JobState.ENCODING))
    ended = store.set_state(store.create(Job.new("b.mp4", "", state=JobState.ENCODING)).id,
                            JobState.DONE)
    for job in (running, ended):
        cached = storage.cached(f"uploads/{job.id}.mp4")
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(b"x")
    assert evict_finished_sources(store, storage) == [f"uploads/{ended.id}.mp4"]
    assert storage.cached_keys() == [f"uploads/{running.id}.mp4"]
