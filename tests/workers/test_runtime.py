"""Leases, the progress throttle and the reaper, against fakeredis (pure Redis logic)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import fakeredis
import pytest

from common import keys
from common.jobs import AudioTrack, Job, Rendition
from common.pertitle import LadderMode, PerTitle
from common.states import JobState, RenditionState
from common.store import JobStore
from common.tasknames import (
    ANALYZE_LADDER,
    ENCODE_AUDIO,
    ENCODE_CHUNK,
    ENCODE_RENDITION,
    INGEST_SOURCE,
    PROBE_JOB,
    STITCH_RENDITION,
)
from common.workref import WorkRef
from tests.support.workers import RecordingProducer
from workers.ffmpeg.progress import Progress
from workers.runtime.lease import acquire, held, holder_token
from workers.runtime.reaper import requeue_abandoned
from workers.runtime.reporter import ProgressReporter, SlidingWindow

REF = WorkRef.rendition("job1", "720p")


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def test_a_lease_is_exclusive_renewable_and_released(client: fakeredis.FakeRedis) -> None:
    lease = acquire(client, REF, "a@host", "t1", ttl_s=5)
    assert lease is not None and client.get(keys.lease(REF)) == lease.token.encode()
    assert acquire(client, REF, "b@host", "t2", ttl_s=5) is None
    assert lease.renew() and client.pttl(keys.lease(REF)) > 4000
    lease.release()
    assert not client.exists(keys.lease(REF))
    assert not lease.renew()  # released: nobody's lease to extend


def test_a_lease_taken_over_is_not_renewed_by_its_old_holder(
        client: fakeredis.FakeRedis) -> None:
    lease = acquire(client, REF, "a@host", "t1", ttl_s=5)
    assert lease is not None
    client.set(keys.lease(REF), "b@host|1|t2")
    assert not lease.renew()
    lease.release()
    assert client.get(keys.lease(REF)) == b"b@host|1|t2"


def test_a_dead_process_of_this_worker_loses_its_lease_at_once(
        client: fakeredis.FakeRedis) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    client.set(keys.lease(REF), f"a@host|{dead.pid}|t1", px=60_000)
    assert acquire(client, REF, "b@host", "t2", ttl_s=5) is None  # another host: wait
    lease = acquire(client, REF, "a@host", "t3", ttl_s=5)
    assert lease is not None and lease.token == holder_token("a@host", "t3")
    client.set(keys.lease(REF), f"a@host|{os.getpid()}|t1", px=60_000)
    assert acquire(client, REF, "a@host", "t4", ttl_s=5) is None  # alive: keep it


@pytest.mark.parametrize("finished", [True, False])
def test_held_lists_the_work_while_it_runs(client: fakeredis.FakeRedis, finished: bool) -> None:
    with held(client, REF, "a@host", "t1", 5, still_open=lambda: not finished) as lease:
        assert lease is not None
        assert client.smembers(keys.ACTIVE_WORK) == {str(REF).encode()}
        assert client.smembers(keys.worker_tasks("a@host")) == {str(REF).encode()}
    assert not client.exists(keys.lease(REF))
    assert not client.exists(keys.worker_tasks("a@host"))
    assert client.sismember(keys.ACTIVE_WORK, str(REF)) == (not finished)


def test_held_yields_none_while_another_holds_it(client: fakeredis.FakeRedis) -> None:
    client.set(keys.lease(REF), "b@host|1|t", px=60_000)
    with held(client, REF, "a@host", "t1", 5, still_open=lambda: True) as lease:
        assert lease is None
    assert not client.exists(keys.ACTIVE_WORK)


def test_sliding_window_allows_bursts_up_to_the_rate() -> None:
    now = [100.0]
    window = SlidingWindow(4, clock=lambda: now[0])
    for _ in range(4):
        assert not window.full()
        window.take()
        now[0] += 0.01
    assert window.full()  # 4 in the last 0.04 s
    now[0] = 100.99
    assert window.full()
    now[0] = 101.001  # the first event left the window
    assert not window.full()


class RecordingEmitter:
    """Keeps what a reporter would publish."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def emit(self, envelope: Any) -> None:
        self.sent.append(envelope)


def test_a_fused_encode_reports_each_block_once_for_all_its_renditions(
        client: fakeredis.FakeRedis) -> None:
    profiles = ("1080p", "720p", "480p")
    store, job = _store_with(client, *[Rendition(p, state=RenditionState.ENCODING)
                                       for p in profiles])
    leases = {p: acquire(client, WorkRef.rendition(job.id, p), "w@h", "t", ttl_s=15)
              for p in profiles}
    emitter = RecordingEmitter()
    reporter = ProgressReporter(store, emitter, job.id, leases, 20.0, hz=4,  # type: ignore[arg-type]
                                renew_every_s=3)
    block = Progress(out_time_s=5.0, frame=125, fps=50.0, bitrate_kbps=None, speed=2.0,
                     total_size=None, finished=False, read_at=1000.0)
    reporter.on_progress(block, [5000.0, 2800.0, None])
    [event] = emitter.sent
    assert (event.job_id, event.ts) == (job.id, 1000.0)
    assert [(r["profile"], r["percent"], r.get("bitrate_kbps")) for r in event.data["renditions"]
            ] == [("1080p", 25.0, 5000.0), ("720p", 25.0, 2800.0), ("480p", 25.0, None)]
    assert [r.percent for r in store.get(job.id).renditions] == [25.0, 25.0, 25.0]
    assert reporter.on_tick()
    store.update_rendition(job.id, "720p",
                           lambda j, r: setattr(r, "state", RenditionState.CANCELED))
    later = Progress(out_time_s=6.0, frame=150, fps=50.0, bitrate_kbps=None, speed=2.0,
                     total_size=None, finished=True, read_at=1001.0)
    reporter.on_progress(later, [5000.0, 2800.0, None])
    assert len(emitter.sent) == 1  # the block was refused: nothing written, nothing sent
    assert not reporter.on_tick()  # one rendition stopped: the FFmpeg making it stops
    assert not store.still_encoding(job.id, list(profiles))


def _store_with(client: fakeredis.FakeRedis, *renditions: Rendition,
                chunk_length: float = 0.0) -> tuple[JobStore, Job]:
    store = JobStore(client)
    job = store.create(Job.new("a.mp4", "a.mp4", state=JobState.ENCODING,
                               renditions=list(renditions), chunk_length_s=chunk_length))
    return store, job


def test_reaper_requeues_a_rendition_whose_lease_lapsed(client: fakeredis.FakeRedis) -> None:
    store, job = _store_with(client, Rendition("720p", state=RenditionState.ENCODING,
                                               worker="gone@host", queue="cpu", attempts=1))
    ref = WorkRef.rendition(job.id, "720p")
    client.sadd(keys.ACTIVE_WORK, str(ref))
    producer = RecordingProducer()
    assert requeue_abandoned(producer, store) == [ref]
    assert producer.sent == [(ENCODE_RENDITION, [job.id, "720p"], "cpu")]
    rendition = store.get(job.id).rendition("720p")
    assert (rendition.state, rendition.percent) == (RenditionState.QUEUED, 0.0)
    assert "gone@host stopped" in str(rendition.error)
    assert not client.exists(keys.ACTIVE_WORK)
    assert requeue_abandoned(producer, store) == []  # once


@pytest.mark.parametrize(("state", "per_title", "sent", "task"), [
    (JobState.PROBING, False, True, PROBE_JOB),  # killed mid-probe
    (JobState.ENCODING, False, False, PROBE_JOB),  # planned, its encodes never sent
    (JobState.ANALYZING, False, False, PROBE_JOB),  # planned, its analysis never sent
    (JobState.ENCODING, True, False, ANALYZE_LADDER),  # analyzed, its encodes never sent
    (JobState.ENCODING, False, True, None),  # planned and sent: nothing to do
    (JobState.ENCODING, True, True, None),
])
def test_reaper_requeues_a_step_that_moved_the_job_on_but_never_sent_its_tasks(
        client: fakeredis.FakeRedis, state: JobState, per_title: bool, sent: bool,
        task: str | None) -> None:
    store = JobStore(client)
    job = store.create(Job.new("a.mp4", "a.mp4", state=state, tasks_sent=sent,
                               per_title=PerTitle(0.98, 0.003) if per_title else None,
                               ladder=LadderMode.PER_TITLE if per_title else LadderMode.FIXED,
                               renditions=[Rendition("720p", queue="cpu")]))
    ref = WorkRef.analysis(job.id) if per_title else WorkRef.plan(job.id)
    client.sadd(keys.ACTIVE_WORK, str(ref))
    producer = RecordingProducer()
    assert requeue_abandoned(producer, store) == ([ref] if task else [])
    assert producer.sent == ([(task, [job.id], "cpu")] if task else [])
    assert not client.exists(keys.ACTIVE_WORK)


@pytest.mark.parametrize(("state", "size", "sent", "requeued"), [
    (JobState.INGESTING, 0, True, True),  # killed mid-fetch
    (JobState.QUEUED, 0, True, True),  # killed before the fetch began
    (JobState.QUEUED, 1000, False, True),  # stored, its probe never sent
    (JobState.QUEUED, 1000, True, False),  # stored and the probe sent: nothing to do
    (JobState.PROBING, 1000, True, False),
])
def test_reaper_requeues_a_url_ingest_until_its_probe_is_sent(
        client: fakeredis.FakeRedis, state: JobState, size: int, sent: bool,
        requeued: bool) -> None:
    store = JobStore(client)
    job = store.create(Job.new("a.mp4", "a.mp4", state=state, size_bytes=size, tasks_sent=sent,
                               source_url="https://example.com/a.mp4"))
    ref = WorkRef.ingest(job.id)
    client.sadd(keys.ACTIVE_WORK, str(ref))
    producer = RecordingProducer()
    assert requeue_abandoned(producer, store) == ([ref] if requeued else [])
    assert producer.sent == ([(INGEST_SOURCE, [job.id], "cpu")] if requeued else [])


@pytest.mark.parametrize(("track", "requeued"), [
    (AudioTrack.PENDING, True), (AudioTrack.ENCODED, False), (AudioTrack.IN_STITCH, False)])
def test_reaper_requeues_a_chunked_jobs_audio_only_while_it_is_pending(
        client: fakeredis.FakeRedis, track: AudioTrack, requeued: bool) -> None:
    store = JobStore(client)
    job = store.create(Job.new("a.mp4", "a.mp4", state=JobState.ENCODING, audio_track=track,
                               renditions=[Rendition("720p", queue="cpu", chunks=2)]))
    ref = WorkRef.audio(job.id)
    client.sadd(keys.ACTIVE_WORK, str(ref))
    producer = RecordingProducer()
    assert requeue_abandoned(producer, store) == ([ref] if requeued else [])
    assert producer.sent == ([(ENCODE_AUDIO, [job.id], "cpu")] if requeued else [])


def test_reaper_leaves_leased_work_and_drops_finished_or_malformed(
        client: fakeredis.FakeRedis) -> None:
    store, job = _store_with(client, Rendition("720p", state=RenditionState.ENCODING),
                             Rendition("480p", state=RenditionState.DONE))
    live, done = WorkRef.rendition(job.id, "720p"), WorkRef.rendition(job.id, "480p")
    client.sadd(keys.ACTIVE_WORK, str(live), str(done), "garbage", "x/#3")
    client.set(keys.lease(live), "a@host|1|t", px=60_000)
    producer = RecordingProducer()
    assert requeue_abandoned(producer, store) == []
    assert producer.sent == []
    assert client.smembers(keys.ACTIVE_WORK) == {str(live).encode()}


def test_reaper_requeues_a_chunk_and_a_stitch(client: fakeredis.FakeRedis) -> None:
    chunked = Rendition("720p", state=RenditionState.ENCODING, queue="cpu", chunks=3,
                        chunk_percent=[100.0, 40.0, 0.0], chunk_attempts=[1, 1, 0])
    stitched = Rendition("480p", state=RenditionState.ENCODING, queue="cpu", chunks=3,
                         chunk_percent=[100.0] * 3, chunk_attempts=[1] * 3)
    store, job = _store_with(client, chunked, stitched, chunk_length=4.0)
    chunk, stitch = WorkRef.chunk(job.id, 1), WorkRef.stitch(job.id, "480p")
    client.sadd(keys.ACTIVE_WORK, str(chunk), str(stitch))
    producer = RecordingProducer()
    assert set(requeue_abandoned(producer, store)) == {chunk, stitch}
    assert sorted(producer.sent) == sorted([(ENCODE_CHUNK, [job.id, 1], "cpu"),
                                            (STITCH_RENDITION, [job.id, "480p"], "cpu")])
    after = store.get(job.id).rendition("720p")
    assert after.chunk_percent == [100.0, 0.0, 0.0] and after.percent == 33.3
