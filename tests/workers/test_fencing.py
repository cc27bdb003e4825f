"""A worker whose lease passed to another publishes nothing and records nothing.

Real redis-server (the WATCH transaction that checks the lease) and a real S3 API (moto):
the late worker's MP4 never replaces the new holder's object, and the record stays put.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.jobs import Job, Rendition
from common.settings import Settings
from common.states import JobState, RenditionState
from common.store import JobStore, LeaseLost
from common.workref import WorkRef
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server
from workers.ffmpeg.encode import EncodeResult
from workers.runtime.context import WorkerContext
from workers.runtime.lease import acquire
from workers.steps import attempt, record
from workers.steps.leased import Outcome
from workers.steps.publish import publish


class NoTasks:
    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        return None


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Server:
    s3_server.create_bucket("fence")
    return s3_server


@pytest.fixture
def ctx(redis_server: RedisServer, s3: S3Server, tmp_path: Path) -> WorkerContext:
    settings = Settings(redis_url=redis_server.url, storage="s3", s3_bucket="fence",
                        s3_endpoint_url=s3.url, s3_region="us-east-1",
                        scratch_dir=tmp_path / "scratch", hls=False)
    return WorkerContext(settings, producer=NoTasks(), hostname="late@b")


def _encoding_job(store: JobStore) -> Job:
    job = Job.new("a.mp4", "a.mp4", state=JobState.ENCODING, hls=False)
    job.renditions = [Rendition("720p", state=RenditionState.ENCODING, width=1280, height=720,
                                worker="late@b", attempts=1)]
    return store.create(job)


def test_a_stolen_lease_refuses_the_upload_and_the_record(ctx: WorkerContext,
                                                          s3: S3Server) -> None:
    job = _encoding_job(ctx.store)
    ref = WorkRef.rendition(job.id, "720p")
    lease = acquire(ctx.redis, ref, ctx.hostname, "task-1", ttl_s=30)
    assert lease is not None
    ctx.redis.set(lease.key, "new@c|1|task-2", px=30_000)  # it lapsed; another took it
    before = ctx.store.get(job.id)
    with ctx.storage.workspace() as ws:
        output = ws.path(f"outputs/{job.id}/720p.mp4")
        output.parent.mkdir(parents=True)
        output.write_bytes(b"late result")
        this = attempt.Attempt(job.id, ["720p"], {"720p": lease}, ws, ["libx264"])
        result = EncodeResult("libx264", output, 1280, 720, 2.0, 11)
        with pytest.raises(attempt.AttemptEnded) as ended:
            publish(ctx, job, this, [result])
    assert ended.value.outcome == Outcome.STOPPED
    assert s3.keys("fence", f"ffcluster/outputs/{job.id}/") == []
    assert ctx.store.get(job.id) == before
    with pytest.raises(LeaseLost):
        record.update_each(ctx, job.id, ["720p"], record.fail("late"), {"720p": lease})
    assert ctx.store.get(job.id) == before


def test_the_holder_publishes_and_records(ctx: WorkerContext, s3: S3Server) -> None:
    job = _encoding_job(ctx.store)
    lease = acquire(ctx.redis, WorkRef.rendition(job.id, "720p"), ctx.hostname, "t", ttl_s=30)
    assert lease is not None
    with ctx.storage.workspace() as ws:
        output = ws.path(f"outputs/{job.id}/720p.mp4")
        output.parent.mkdir(parents=True)
        output.write_bytes(b"the result")
        this = attempt.Attempt(job.id, ["720p"], {"720p": lease}, ws, ["libx264"])
        publish(ctx, job, this, [EncodeResult("libx264", output, 1280, 720, 2.0, 10)])
    assert s3.keys("fence", f"ffcluster/outputs/{job.id}/") == [
        f"ffcluster/outputs/{job.id}/720p.mp4"]
    done = ctx.store.get(job.id)
    assert done is not None and done.rendition("720p").state == RenditionState.DONE
    assert done.rendition("720p").output == "720p.mp4"
