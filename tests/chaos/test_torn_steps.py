"""A step that moved the job on but died before sending the next tasks: the reaper finishes it.

The URL ingest, the planner and the per-title analysis write the record first, then send
the tasks the record calls for. A worker killed between the two, or a broker that refuses
the send, used to leave the job with nothing on any queue. Here the step runs in this
process with a producer that fails at the first send (the moment it would die), the
broker's copy of the step's task is dropped (or never sent), and a real worker must find
the open step through its reaper alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common import keys, tasknames
from common.jobs import Job
from common.pertitle import LadderMode
from common.settings import Settings
from common.states import JobState
from common.store import JobStore
from common.workref import WorkRef
from tests.chaos.conftest import Factory, settings_client
from tests.support.http_source import serve_sources
from tests.support.jobs import submit, wait_for_job
from tests.support.media import make_clip
from tests.support.workers import RecordingProducer
from workers.runtime.context import WorkerContext
from workers.steps.analyze import analyze_ladder
from workers.steps.ingest import ingest_source
from workers.steps.plan import start_job

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


class BrokerGone(ConnectionError):
    """What a send raises here: the moment the step's worker would have died."""


class FailingSends:
    def __init__(self) -> None:
        self.tried: list[str] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.tried.append(name)
        raise BrokerGone(f"{name} was never sent")


@pytest.fixture(scope="module")
def short_clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "torn-640x360.mp4", seconds=3, size="640x360")


def _submitted_without_its_probe(settings: Settings, clip: Path, **options: Any) -> str:
    job = submit(settings, clip, **options)
    settings_client(settings).delete(tasknames.QUEUE_CPU)  # only the reaper can start it now
    return job.id


def _dying(settings: Settings, producer: Any) -> WorkerContext:
    return WorkerContext(settings, producer=producer, hostname="dying@host")


def test_a_planner_that_dies_before_sending_the_encodes_is_finished_by_the_reaper(
    chaos_settings: Settings, worker_factory: Factory, short_clip: Path
) -> None:
    job_id = _submitted_without_its_probe(chaos_settings, short_clip)
    sends = FailingSends()
    with pytest.raises(BrokerGone):
        start_job(_dying(chaos_settings, sends), job_id)
    store = JobStore(settings_client(chaos_settings))
    torn = store.get(job_id)
    assert torn is not None and torn.state == JobState.ENCODING and not torn.tasks_sent
    assert sends.tried == [tasknames.ENCODE_RENDITIONS]
    client = settings_client(chaos_settings)
    assert client.sismember(keys.ACTIVE_WORK, str(WorkRef.plan(job_id)))
    assert not client.exists(keys.lease(WorkRef.plan(job_id)))

    worker = worker_factory(chaos_settings, name="rescuer")
    final = wait_for_job(chaos_settings, job_id, timeout=90)
    assert final.tasks_sent
    assert [r.state for r in final.renditions] == ["done"]
    assert str(final.renditions[0].worker).startswith("rescuer@")
    assert "never sent; sending them" in worker.log()


def test_an_analysis_that_dies_before_sending_the_encodes_is_finished_by_the_reaper(
    chaos_settings: Settings, worker_factory: Factory, short_clip: Path
) -> None:
    job_id = _submitted_without_its_probe(chaos_settings, short_clip,
                                          ladder=LadderMode.PER_TITLE)
    planned = RecordingProducer()
    start_job(_dying(chaos_settings, planned), job_id)
    assert planned.names == [tasknames.ANALYZE_LADDER]  # kept here, never on the broker
    sends = FailingSends()
    with pytest.raises(BrokerGone):
        analyze_ladder(_dying(chaos_settings, sends), job_id)
    store = JobStore(settings_client(chaos_settings))
    torn = store.get(job_id)
    assert torn is not None and torn.state == JobState.ENCODING and not torn.tasks_sent
    assert torn.per_title is not None and torn.per_title.rungs
    analysis = (torn.per_title.seconds, torn.per_title.windows, torn.per_title.rungs[0].chosen_kbps)
    assert settings_client(chaos_settings).sismember(keys.ACTIVE_WORK,
                                                     str(WorkRef.analysis(job_id)))

    worker = worker_factory(chaos_settings, name="rescuer")
    final = wait_for_job(chaos_settings, job_id, timeout=90)
    assert final.tasks_sent and final.per_title is not None
    rung = final.per_title.rungs[0]
    assert (final.per_title.seconds, final.per_title.windows, rung.chosen_kbps) == analysis
    assert str(final.renditions[0].worker).startswith("rescuer@")
    assert "never sent; sending them" in worker.log()


def test_an_ingest_that_dies_before_sending_the_probe_is_finished_by_the_reaper(
    chaos_settings: Settings, worker_factory: Factory, short_clip: Path, tmp_path: Path
) -> None:
    settings = chaos_settings.with_overrides(ingest_allow="127.0.0.0/8")
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "torn.mp4").write_bytes(short_clip.read_bytes())
    store = JobStore(settings_client(settings))
    with serve_sources(tmp_path / "served") as server:
        job = Job.new("torn.mp4", "", source_url=server.file_url("torn.mp4"))
        job.source_file = f"{job.id}.mp4"  # as the web tier names a URL job's source
        store.create(job)
        sends = FailingSends()
        with pytest.raises(BrokerGone):
            ingest_source(_dying(settings, sends), job.id)
    torn = store.get(job.id)
    assert torn is not None and torn.state == JobState.QUEUED and not torn.tasks_sent
    assert torn.size_bytes == short_clip.stat().st_size
    assert sends.tried == [tasknames.PROBE_JOB]
    assert settings_client(settings).sismember(keys.ACTIVE_WORK, str(WorkRef.ingest(job.id)))

    worker = worker_factory(settings, name="rescuer")
    final = wait_for_job(settings, job.id, timeout=90)  # the server is gone: not fetched again
    assert final.tasks_sent and [r.state for r in final.renditions] == ["done"]
    assert f"fetched {short_clip.stat().st_size} bytes" in worker.log()
