"""Job transitions that users start (cancel, retry) and that both tiers apply the same way."""

from __future__ import annotations

from common.jobs import Job
from common.states import RENDITION_TERMINAL, JobState, RenditionState
from common.store import JobStore


class TransitionRefused(Exception):
    """The job is not in a state that allows this; the message is for the user."""


def cancel_job(store: JobStore, job_id: str) -> Job:
    """Mark the job and every unfinished rendition canceled; workers stop within a tick."""

    def apply(job: Job) -> None:
        if job.terminal:
            raise TransitionRefused(f"The job is already {job.state}; there is nothing to cancel.")
        job.state = JobState.CANCELED
        job.error = "Canceled by a user."
        for rendition in job.renditions:
            if rendition.state not in RENDITION_TERMINAL:
                rendition.state = RenditionState.CANCELED
                rendition.eta_s = None

    return store.update(job_id, apply)


def reset_for_retry(store: JobStore, job_id: str) -> Job:
    """Put a failed or canceled job back to queued, keeping renditions that finished."""

    def apply(job: Job) -> None:
        if job.state not in (JobState.FAILED, JobState.CANCELED):
            raise TransitionRefused(
                f"The job is {job.state}; only failed or canceled jobs can be retried."
            )
        job.state = JobState.QUEUED
        job.error = None
        for rendition in job.renditions:
            if rendition.state != RenditionState.DONE:
                rendition.state = RenditionState.QUEUED
                rendition.percent = 0.0
                rendition.attempts = 0
                rendition.error = None
                rendition.fallbacks = []
                rendition.fps = rendition.speed = rendition.eta_s = rendition.bitrate_kbps = None

    return store.update(job_id, apply, by_user=True)
