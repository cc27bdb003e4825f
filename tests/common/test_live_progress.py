"""Live progress: one script per block, no transaction, merged into every read."""

from __future__ import annotations

import fakeredis
import pytest

from common import keys, metrics
from common.jobs import Job, Rendition
from common.states import JobState, RenditionState
from common.store import JobStore


@pytest.fixture
def store() -> JobStore:
    return JobStore(fakeredis.FakeRedis())


def _job(store: JobStore, *renditions: Rendition, state: JobState = JobState.ENCODING) -> Job:
    return store.create(Job.new("a.mp4", "a.mp4", state=state, renditions=list(renditions)))



def test_progress_is_merged_into_reads_and_leaves_the_record_alone(store: JobStore) -> None:
    job = _job(store, Rendition("720p", state=RenditionState.ENCODING),
               Rendition("480p", state=RenditionState.ENCODING))
    record_before = store.redis.hgetall(keys.job(job.id))
    values = {"percent": 42.5, "fps": 30.0, "bitrate_kbps": 900.0, "speed": 1.5, "eta_s": 3.0}
    assert store.record_progress(job.id, {"720p": values}) == {"720p": 42.5}
    assert store.redis.hgetall(keys.job(job.id)) == record_before
    read = store.get(job.id)
    assert read.rendition("720p").percent == 42.5 and read.rendition("720p").speed == 1.5
    assert read.rendition("480p").percent == 0.0
    assert store.list()[0][0].rendition("720p").fps == 30.0


@pytest.mark.parametrize("job_state, rendition_state", [
    (JobState.ENCODING, RenditionState.DONE), (JobState.ENCODING, RenditionState.CANCELED),
    (JobState.CANCELED, RenditionState.ENCODING), (JobState.ENCODING, RenditionState.QUEUED),
])
def test_progress_of_work_no_longer_encoding_is_refused(
        store: JobStore, job_state: JobState, rendition_state: RenditionState) -> None:
    job = _job(store, Rendition("720p", state=rendition_state), state=job_state)
    assert store.record_progress(job.id, {"720p": {"percent": 10.0}}) is None
    assert not store.still_encoding(job.id, ["720p"])
    assert not store.redis.exists(keys.job_live(job.id))
    assert store.record_progress("missing", {"720p": {"percent": 1.0}}) is None


def test_a_state_change_folds_live_progress_into_the_record(store: JobStore) -> None:
    job = _job(store, Rendition("720p", state=RenditionState.ENCODING))
    store.record_progress(job.id, {"720p": {"percent": 60.0, "fps": 24.0}})
    store.update_rendition(job.id, "720p", lambda j, r: setattr(r, "state", RenditionState.DONE))
    stored = store.get(job.id).rendition("720p")
    assert (stored.state, stored.percent, stored.fps) == (RenditionState.DONE, 60.0, 24.0)
    assert not store.redis.hexists(keys.job_live(job.id), "p:720p")


def test_chunk_progress_gives_the_mean_over_slices(store: JobStore) -> None:
    rendition = Rendition("720p", state=RenditionState.ENCODING, chunks=4,
                          chunk_percent=[100.0, 0.0, 0.0, 0.0], chunk_attempts=[1, 1, 1, 0])
    job = _job(store, rendition)
    assert store.record_progress(job.id, {"720p": {"fps": 10.0}}, chunk=(1, 50.0)) == {"720p": 37.5}
    assert store.record_progress(job.id, {"720p": {"fps": 12.0}}, chunk=(2, 30.0)) == {"720p": 45.0}
    assert store.record_progress(job.id, {"720p": {"fps": 12.0}}, chunk=(0, 9.0)) == {"720p": 45.0}
    read = store.get(job.id).rendition("720p")
    assert read.chunk_percent == [100.0, 50.0, 30.0, 0.0] and read.percent == 45.0
    assert read.fps == 12.0


def test_writers_of_different_renditions_and_chunks_never_conflict(store: JobStore) -> None:
    renditions = [Rendition(p, state=RenditionState.ENCODING, chunks=3,
                            chunk_percent=[0.0] * 3, chunk_attempts=[1] * 3)
                  for p in ("1080p", "720p", "480p")]
    job = _job(store, *renditions)
    for step in range(10):
        for index in range(3):
            for r in renditions:
                store.record_progress(job.id, {r.profile: {"fps": 1.0}}, chunk=(index, step * 10))
    assert metrics.read_all(store.redis).get(metrics.WATCH_CONFLICTS, {}) == {}
    assert [r.percent for r in store.get(job.id).renditions] == [90.0, 90.0, 90.0]


def test_bytes_per_event_do_not_grow_with_the_ladder(store: JobStore) -> None:
    small = _job(store, Rendition("a", state=RenditionState.ENCODING))
    big = _job(store, *[Rendition(f"r{i}", state=RenditionState.ENCODING) for i in range(12)])
    values = {"percent": 12.5, "fps": 30.0, "bitrate_kbps": 1000.0, "speed": 1.0, "eta_s": 2.0}
    store.record_progress(small.id, {"a": values})
    store.record_progress(big.id, {"r0": values})
    live_small = store.redis.hget(keys.job_live(small.id), "p:a")
    live_big = store.redis.hget(keys.job_live(big.id), "p:r0")
    assert live_small == live_big and len(live_big) < 200


def test_one_block_writes_every_rendition_of_a_fused_encode(store: JobStore) -> None:
    job = _job(store, *[Rendition(p, state=RenditionState.ENCODING)
                        for p in ("1080p", "720p", "480p")])
    block = {p: {"percent": 25.0, "bitrate_kbps": kbps}
             for p, kbps in (("1080p", 5000.0), ("720p", 2800.0), ("480p", 1400.0))}
    assert store.record_progress(job.id, block) == {"1080p": 25.0, "720p": 25.0, "480p": 25.0}
    assert store.still_encoding(job.id, ["1080p", "720p", "480p"])
    read = store.get(job.id)
    assert [(r.percent, r.bitrate_kbps) for r in read.renditions] == [
        (25.0, 5000.0), (25.0, 2800.0), (25.0, 1400.0)]


def test_a_block_with_one_rendition_no_longer_encoding_writes_nothing(store: JobStore) -> None:
    job = _job(store, Rendition("720p", state=RenditionState.ENCODING),
               Rendition("480p", state=RenditionState.CANCELED))
    assert store.record_progress(job.id, {"720p": {"percent": 5.0},
                                          "480p": {"percent": 5.0}}) is None
    assert not store.redis.exists(keys.job_live(job.id))
    assert not store.still_encoding(job.id, ["720p", "480p"])
    assert store.still_encoding(job.id, ["720p"])
