"""Thin Celery tasks: each one names a plain function; none waits on another copy of itself.

Every task is at-least-once (acks_late on Redis). A copy that finds its work leased by a
live worker ends at once with ``busy``: the holder finishes the work, and if the holder
dies its lease lapses and a heartbeat's reaper queues the work again. Retrying instead
would park the copy unacknowledged in a worker, where a short visibility timeout restores
it again and again.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from celery import Task, shared_task

from common import tasknames
from workers.runtime import webhook
from workers.runtime.context import context_of
from workers.steps import analyze, audio, chunks, finalize, ingest, plan, stitch
from workers.steps.renditions import run_renditions

log = logging.getLogger(__name__)


@shared_task(bind=True, name=tasknames.INGEST_SOURCE)
def ingest_source(self: Task, job_id: str) -> str:
    """Fetch a URL job's source into storage, then send its probe."""
    return ingest.ingest_source(context_of(self.app), job_id, self.request.id)


@shared_task(bind=True, name=tasknames.PROBE_JOB)
def probe_job(self: Task, job_id: str) -> list[str]:
    """Probe the upload, plan its renditions and enqueue their encodes."""
    return plan.start_job(context_of(self.app), job_id, self.request.id)


@shared_task(bind=True, name=tasknames.ANALYZE_LADDER)
def analyze_ladder(self: Task, job_id: str) -> str:
    """Sample a per-title job's source, choose its rungs' bitrates, send the encodes."""
    return analyze.analyze_ladder(context_of(self.app), job_id, self.request.id)


@shared_task(bind=True, name=tasknames.ENCODE_RENDITIONS)
def encode_renditions(self: Task, job_id: str, profiles: list[str]) -> str:
    """Encode renditions with one decode; those another live worker holds are left to it."""
    outcome, busy = run_renditions(context_of(self.app), job_id, profiles,
                                   self.request.id)
    if busy:
        log.info("job %s: %s already running elsewhere", job_id, ", ".join(busy))
    return str(outcome)


@shared_task(bind=True, name=tasknames.ENCODE_RENDITION)
def encode_rendition(self: Task, job_id: str, profile: str) -> str:
    """Encode one rendition (what the reaper queues for work whose worker died)."""
    outcome, _busy = run_renditions(context_of(self.app), job_id, [profile],
                                    self.request.id)
    return str(outcome)


@shared_task(bind=True, name=tasknames.ENCODE_CHUNK)
def encode_chunk(self: Task, job_id: str, index: int) -> str:
    """Encode one time slice of every chunked rendition of a job."""
    return str(chunks.run_chunk(context_of(self.app), job_id, index, self.request.id))


@shared_task(bind=True, name=tasknames.ENCODE_AUDIO)
def encode_audio(self: Task, job_id: str) -> str:
    """Encode a chunked job's audio once while its video slices run."""
    return str(audio.run_audio(context_of(self.app), job_id, self.request.id))


@shared_task(bind=True, name=tasknames.STITCH_RENDITION)
def stitch_rendition(self: Task, job_id: str, profile: str) -> str:
    """Join a rendition's encoded chunks and add its audio."""
    return str(stitch.run_stitch(context_of(self.app), job_id, profile, self.request.id))


@shared_task(bind=True, name=tasknames.FINALIZE_JOB)
def finalize_job(self: Task, job_id: str) -> str | None:
    """Make the poster and settle the job's final state."""
    state = finalize.finalize_job(context_of(self.app), job_id)
    return None if state is None else str(state)


@shared_task(bind=True, name=tasknames.SEND_WEBHOOK, autoretry_for=(requests.RequestException,),
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=8)
def send_webhook(self: Task, job: dict[str, Any]) -> int:
    """POST the job JSON to the configured webhook, signed; retried with backoff."""
    settings = context_of(self.app).settings
    if not settings.webhook_url:
        return 0
    return webhook.deliver(settings.webhook_url, settings.webhook_secret, job)
