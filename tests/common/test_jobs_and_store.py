"""The job model, the Redis job record (JobStore) and the cancel/retry transitions."""

from __future__ import annotations

import json
import threading

import fakeredis
import pytest

from common import keys
from common.jobs import Fallback, Job, JobMode, Rendition, SourceInfo
from common.lifecycle import TransitionRefused, cancel_job, reset_for_retry
from common.states import JobState, RenditionState
from common.store import JobStore, StaleUpdate


@pytest.fixture
def store() -> JobStore:
    return JobStore(fakeredis.FakeRedis())


def make_job(*profiles: str, created_at: float = 1000.0, **kwargs: object) -> Job:
    job = Job.new("holiday.mov", "x.mov", **kwargs)  # type: ignore[arg-type]
    job.created_at = created_at
    job.renditions = [Rendition(p) for p in profiles]
    return job


def test_job_dict_round_trip() -> None:
    job = make_job("720p", "480p", mode=JobMode.PASSTHROUGH, requested_profiles=["720p"])
    job.state = JobState.ENCODING
    job.source = SourceInfo(duration=2.0, width=320, height=240, video_codec="h264", fps=25.0,
                            has_audio=True, bitrate_kbps=300, audio_codec="aac")
    job.renditions[0] = Rendition("720p", state=RenditionState.DONE, percent=100.0,
                                  codec="libx264", fallbacks=[Fallback("h264_nvenc", "no GPU")])
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert (data["state"], data["mode"], data["profiles"]) == (
        "encoding", "passthrough", ["720p", "480p"])
    assert data["renditions"][0]["fallbacks"] == [{"codec": "h264_nvenc", "error": "no GPU"}]
    assert data["percent"] == 50.0
    again = Job.from_dict({**data, "unknown_field": 1})
    assert again == job
    assert again.rendition("720p").fallbacks[0] == Fallback("h264_nvenc", "no GPU")
    with pytest.raises(KeyError):
        again.rendition("1080p")


def test_job_percent_and_summary() -> None:
    job = make_job("a", "b")
    assert job.percent == 0.0
    job.renditions[0].percent = 33.33
    assert job.percent == 16.7
    job.state = JobState.DONE
    assert job.percent == 100.0
    job.renditions[0].state = RenditionState.DONE
    job.renditions[1].state = RenditionState.FAILED
    assert job.summarize_state() == JobState.FAILED
    job.renditions[0].state = RenditionState.CANCELED
    assert job.summarize_state() == JobState.CANCELED


def test_create_get_exists(store: JobStore) -> None:
    job = store.create(make_job("720p", "480p"))
    assert store.exists(job.id)
    assert store.get(job.id) == job
    assert store.get("nope") is None and not store.exists("nope")
    raw = store.redis.hgetall(keys.job(job.id))
    assert set(raw) == {b"job", b"r:720p", b"r:480p"}


def test_list_is_newest_first_paginated_with_total(store: JobStore) -> None:
    ids = [store.create(make_job("a", created_at=1000.0 + i)).id for i in range(5)]
    page, total = store.list(0, 2)
    assert total == 5
    assert [j.id for j in page] == [ids[4], ids[3]]
    page, total = store.list(2, 2)
    assert [j.id for j in page] == [ids[2], ids[1]]
    page, total = store.list(4, 10)
    assert ([j.id for j in page], total) == ([ids[0]], 5)
    assert store.list(10, 10) == ([], 5)


def test_update_rendition_changes_only_that_rendition(store: JobStore) -> None:
    job = store.create(make_job("720p", "480p"))

    def progress(_job: Job, rendition: Rendition) -> None:
        rendition.state, rendition.percent = RenditionState.ENCODING, 42.0

    updated = store.update_rendition(job.id, "480p", progress)
    assert updated.rendition("480p").percent == 42.0
    stored = store.get(job.id)
    assert stored is not None
    assert (stored.rendition("480p").state, stored.rendition("480p").percent) == ("encoding", 42)
    assert stored.rendition("720p") == Rendition("720p")
    with pytest.raises(KeyError):
        store.update("missing", lambda j: None)


@pytest.mark.parametrize("final", [JobState.DONE, JobState.CANCELED])
def test_update_rendition_refuses_on_a_final_job(store: JobStore, final: JobState) -> None:
    job = store.create(make_job("720p", state=final))
    with pytest.raises(StaleUpdate):
        store.update_rendition(job.id, "720p", lambda j, r: setattr(r, "percent", 10.0))
    stored = store.get(job.id)
    assert stored is not None and stored.rendition("720p").percent == 0.0


@pytest.mark.parametrize("terminal", [RenditionState.DONE, RenditionState.FAILED,
                                      RenditionState.CANCELED])
def test_update_rendition_refuses_a_terminal_rendition(store: JobStore,
                                                       terminal: RenditionState) -> None:
    job = make_job("720p", state=JobState.ENCODING)
    job.renditions[0].state = terminal
    store.create(job)
    with pytest.raises(StaleUpdate):
        store.update_rendition(job.id, "720p", lambda j, r: setattr(r, "percent", 10.0))
    store.update_rendition(job.id, "720p", lambda j, r: setattr(r, "error", "late"),
                           allow_terminal=True)
    stored = store.get(job.id)
    assert stored is not None
    assert (stored.rendition("720p").percent, stored.rendition("720p").error) == (0.0, "late")


@pytest.mark.parametrize("final", [JobState.DONE, JobState.CANCELED])
def test_update_never_moves_a_final_job_unless_a_user_retries(store: JobStore,
                                                              final: JobState) -> None:
    job = store.create(make_job("720p", state=JobState.ENCODING))
    finished = store.set_state(job.id, final)
    assert finished.finished_at is not None
    with pytest.raises(StaleUpdate):
        store.set_state(job.id, JobState.FAILED, error="late duplicate")
    stored = store.get(job.id)
    assert stored is not None and (stored.state, stored.error) == (final, None)
    with pytest.raises(StaleUpdate):  # a worker may never requeue it
        store.set_state(job.id, JobState.QUEUED)
    retry = lambda: store.update(  # noqa: E731
        job.id, lambda j: setattr(j, "state", JobState.QUEUED), by_user=True)
    if final == JobState.DONE:
        with pytest.raises(StaleUpdate):  # done is done, even for a user
            retry()
        return
    assert (retry().state, store.get(job.id).finished_at) == (JobState.QUEUED, None)


def test_a_failed_job_moves_only_by_a_retry(store: JobStore) -> None:
    job = store.create(make_job("720p", state=JobState.ENCODING))
    store.set_state(job.id, JobState.FAILED, error="boom")
    with pytest.raises(StaleUpdate):
        store.set_state(job.id, JobState.DONE)
    assert store.get(job.id).state == JobState.FAILED


def _mixed_job(store: JobStore) -> Job:
    job = make_job("1080p", "720p", "480p", "360p", state=JobState.ENCODING)
    for rendition, state, percent in zip(job.renditions, (
            RenditionState.DONE, RenditionState.ENCODING, RenditionState.FAILED), (
            100.0, 40.0, 10.0), strict=False):
        rendition.state, rendition.percent, rendition.eta_s = state, percent, 5.0
        rendition.attempts, rendition.fallbacks = 2, [Fallback("h264_nvenc", "x")]
    return store.create(job)


def test_cancel_cancels_only_unfinished_renditions(store: JobStore) -> None:
    job = _mixed_job(store)
    canceled = cancel_job(store, job.id)
    assert canceled.state == JobState.CANCELED and canceled.finished_at is not None
    assert canceled.error == "Canceled by a user."
    stored = store.get(job.id)
    assert stored is not None
    assert [(r.profile, str(r.state)) for r in stored.renditions] == [
        ("1080p", "done"), ("720p", "canceled"), ("480p", "failed"), ("360p", "canceled")]
    assert stored.rendition("720p").eta_s is None


@pytest.mark.parametrize("finished", [JobState.DONE, JobState.FAILED, JobState.CANCELED])
def test_cancel_refuses_finished_jobs(store: JobStore, finished: JobState) -> None:
    job = store.create(make_job("720p", state=finished))
    with pytest.raises(TransitionRefused, match=f"already {finished}"):
        cancel_job(store, job.id)
    stored = store.get(job.id)
    assert stored is not None and stored.state == finished


def test_retry_keeps_done_renditions_and_resets_the_rest(store: JobStore) -> None:
    job = _mixed_job(store)
    cancel_job(store, job.id)
    retried = reset_for_retry(store, job.id)
    assert (retried.state, retried.error, retried.finished_at) == (JobState.QUEUED, None, None)
    stored = store.get(job.id)
    assert stored is not None
    done = stored.rendition("1080p")
    assert (done.state, done.percent, done.attempts) == (RenditionState.DONE, 100.0, 2)
    for profile in ("720p", "480p", "360p"):
        r = stored.rendition(profile)
        assert (r.state, r.percent, r.attempts, r.fallbacks, r.eta_s) == (
            RenditionState.QUEUED, 0.0, 0, [], None)


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.ENCODING, JobState.DONE])
def test_retry_refuses_jobs_that_did_not_fail(store: JobStore, state: JobState) -> None:
    job = store.create(make_job("720p", state=state))
    with pytest.raises(TransitionRefused, match="only failed or canceled"):
        reset_for_retry(store, job.id)


@pytest.mark.parametrize("targets, expected", [
    (["a", "b", "c", "d"], [50.0, 50.0, 50.0, 50.0]),  # one rendition per thread
    (["a", "a", "b", "b"], [100.0, 100.0, 0.0, 0.0]),  # two threads race on each rendition
])
def test_concurrent_rendition_updates_lose_nothing(store: JobStore, targets: list[str],
                                                   expected: list[float]) -> None:
    job = store.create(make_job("a", "b", "c", "d"))
    errors: list[BaseException] = []

    def bump(_job: Job, rendition: Rendition) -> None:
        rendition.percent += 1

    def worker(profile: str) -> None:
        try:
            for _ in range(50):
                store.update_rendition(job.id, profile, bump)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    stored = store.get(job.id)
    assert stored is not None
    assert [r.percent for r in stored.renditions] == expected
