"""Uploads of failed and canceled jobs are kept for a retry, then removed (fakeredis + tmp dir)."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest

from common.jobs import Job
from common.lifecycle import reset_for_retry
from common.settings import Settings
from common.states import JobState
from common.storage import open_storage
from common.store import JobStore
from tests.support.files import uploads_dir
from workers.runtime.retention import remove_expired_uploads


@pytest.fixture
def store() -> JobStore:
    return JobStore(fakeredis.FakeRedis())


def _job(store: JobStore, settings: Settings, state: JobState, name: str) -> Job:
    uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    (uploads_dir(settings) / name).write_bytes(b"video")
    job = store.create(Job.new(name, name, state=JobState.ENCODING))
    return store.set_state(job.id, state)


def test_only_ended_jobs_past_retention_lose_their_upload(store: JobStore,
                                                          tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upload_retention_h=1.0)
    storage = open_storage(settings)
    failed = _job(store, settings, JobState.FAILED, "a.mp4")
    canceled = _job(store, settings, JobState.CANCELED, "b.mp4")
    done = _job(store, settings, JobState.DONE, "c.mp4")
    ended = failed.updated_at
    assert remove_expired_uploads(store, storage, settings, now=ended + 1800) == []
    assert sorted(remove_expired_uploads(store, storage, settings, now=ended + 3700)) == sorted(
        [failed.id, canceled.id])
    assert sorted(p.name for p in uploads_dir(settings).iterdir()) == ["c.mp4"]
    assert store.get(done.id).state == JobState.DONE
    assert remove_expired_uploads(store, storage, settings, now=ended + 7200) == []  # once


def test_a_retried_job_keeps_its_upload_and_zero_keeps_all(store: JobStore,
                                                           tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upload_retention_h=1.0)
    storage = open_storage(settings)
    failed = _job(store, settings, JobState.FAILED, "a.mp4")
    reset_for_retry(store, failed.id)
    assert remove_expired_uploads(store, storage, settings, now=failed.updated_at + 3700) == []
    assert (uploads_dir(settings) / "a.mp4").exists()
    forever = Settings(data_dir=tmp_path, upload_retention_h=0)
    _job(store, forever, JobState.CANCELED, "b.mp4")
    assert remove_expired_uploads(store, open_storage(forever), forever, now=10**12) == []
    assert (uploads_dir(forever) / "b.mp4").exists()
