"""The job and rendition state machines, walked edge by edge through the real store."""

from __future__ import annotations

import itertools

import fakeredis
import pytest

from common.jobs import Job, Rendition
from common.states import (
    JOB_MACHINE,
    JOB_TERMINAL,
    RENDITION_MACHINE,
    RENDITION_TERMINAL,
    JobState,
    RenditionState,
)
from common.store import JobStore, StaleUpdate

JOB_PAIRS = list(itertools.product(JobState, JobState))
RENDITION_PAIRS = list(itertools.product(RenditionState, RenditionState))


@pytest.fixture
def store() -> JobStore:
    return JobStore(fakeredis.FakeRedis())


def test_terminal_states_are_what_the_model_calls_terminal() -> None:
    assert {JobState.DONE, JobState.FAILED, JobState.CANCELED} == JOB_TERMINAL
    assert {RenditionState.DONE, RenditionState.FAILED,
            RenditionState.CANCELED} == RENDITION_TERMINAL
    assert JOB_MACHINE.final == {JobState.DONE}


@pytest.mark.parametrize("by_user", [False, True])
@pytest.mark.parametrize("source, target", JOB_PAIRS)
def test_every_job_move_is_allowed_or_refused_by_the_table(
        store: JobStore, source: JobState, target: JobState, by_user: bool) -> None:
    job = store.create(Job.new("a.mp4", "a.mp4", state=source, renditions=[Rendition("p")]))
    edge = JOB_MACHINE.transitions.get((source, target))
    legal = source == target or (edge is not None and (by_user or not edge.by_user))
    if not legal:
        with pytest.raises(StaleUpdate, match=f"from {source} to {target}"):
            store.update(job.id, lambda j: setattr(j, "state", target), by_user=by_user)
        assert store.get(job.id).state == source
        return
    moved = store.update(job.id, lambda j: setattr(j, "state", target), by_user=by_user)
    assert store.get(job.id).state == moved.state == target
    if source != target and target in JOB_TERMINAL:
        assert moved.finished_at is not None
    if source != target and target == JobState.QUEUED:
        assert moved.finished_at is None


@pytest.mark.parametrize("source, target", RENDITION_PAIRS)
def test_every_rendition_move_is_allowed_or_refused_by_the_table(
        store: JobStore, source: RenditionState, target: RenditionState) -> None:
    job = store.create(Job.new("a.mp4", "a.mp4", state=JobState.ENCODING,
                               renditions=[Rendition("p", state=source)]))

    def move(j: Job) -> None:
        j.rendition("p").state = target

    if not RENDITION_MACHINE.allowed(source, target, by_user=True):
        with pytest.raises(StaleUpdate):
            store.update(job.id, move, by_user=True)
        assert store.get(job.id).rendition("p").state == source
        return
    edge = RENDITION_MACHINE.transitions.get((source, target))
    if edge is not None and edge.by_user:
        with pytest.raises(StaleUpdate):  # a worker may not take a user's edge
            store.update(job.id, move)
    moved = store.update(job.id, move, by_user=True).rendition("p")
    assert moved.state == target
    if source != target and target == RenditionState.ENCODING:
        assert moved.started_at is not None
    if source != target and target in RENDITION_TERMINAL:
        assert moved.finished_at is not None


def test_the_tables_name_only_real_states() -> None:
    for machine, states in ((JOB_MACHINE, set(JobState)), (RENDITION_MACHINE,
                                                          set(RenditionState))):
        assert {s for pair in machine.transitions for s in pair} == states
        assert machine.initial in states
