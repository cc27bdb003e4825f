"""Thin Celery tasks: each one names a plain function and says how to retry it."""

from __future__ import annotations

import logging
from typing import Any

import requests
from celery import Task, shared_task

from common import tasknames
from workers import chunks, pipeline, stitch, webhook
from workers.context import context_of
from workers.rendition import Outcome, run_renditions

log = logging.getLogger(__name__)

BUSY_RETRIES = 40


@shared_task(bind=True, name=tasknames.PROBE_JOB)
def probe_job(self: Task, job_id: str) -> list[str]:
    """Probe the upload, plan its renditions and enqueue their encodes."""
    return pipeline.start_job(self.app, context_of(self.app), job_id)


@shared_task(bind=True, name=tasknames.ENCODE_RENDITIONS, max_retries=BUSY_RETRIES)
def encode_renditions(self: Task, job_id: str, profiles: list[str]) -> str:
    """Encode renditions with one decode; those another live worker holds are tried later."""
    ctx = context_of(self.app)
    outcome, busy = run_renditions(self.app, ctx, job_id, profiles, self.request.id)
    if busy:
        raise self.retry(args=[job_id, busy], countdown=ctx.settings.lease_s)
    return str(outcome)


@shared_task(bind=True, name=tasknames.ENCODE_RENDITION, max_retries=BUSY_RETRIES)
def encode_rendition(self: Task, job_id: str, profile: str) -> str:
    """Encode one rendition; if another live worker holds it, look again after its lease."""
    ctx = context_of(self.app)
    outcome, busy = run_renditions(self.app, ctx, job_id, [profile], self.request.id)
    if busy:
        raise self.retry(countdown=ctx.settings.lease_s)
    return str(outcome)


@shared_task(bind=True, name=tasknames.ENCODE_CHUNK, max_retries=BUSY_RETRIES)
def encode_chunk(self: Task, job_id: str, index: int) -> str:
    """Encode one time slice of every chunked rendition of a job."""
    ctx = context_of(self.app)
    outcome = chunks.run_chunk(self.app, ctx, job_id, index, self.request.id)
    if outcome == Outcome.BUSY:
        raise self.retry(countdown=ctx.settings.lease_s)
    return str(outcome)


@shared_task(bind=True, name=tasknames.STITCH_RENDITION, max_retries=BUSY_RETRIES)
def stitch_rendition(self: Task, job_id: str, profile: str) -> str:
    """Join a rendition's encoded chunks and add its audio."""
    ctx = context_of(self.app)
    outcome = stitch.run_stitch(self.app, ctx, job_id, profile, self.request.id)
    if outcome == Outcome.BUSY:
        raise self.retry(countdown=ctx.settings.lease_s)
    return str(outcome)


@shared_task(bind=True, name=tasknames.FINALIZE_JOB)
def finalize_job(self: Task, job_id: str) -> str | None:
    """Make the poster and settle the job's final state."""
    state = pipeline.finalize_job(self.app, context_of(self.app), job_id)
    return None if state is None else str(state)


@shared_task(bind=True, name=tasknames.SEND_WEBHOOK, autoretry_for=(requests.RequestException,),
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=8)
def send_webhook(self: Task, job: dict[str, Any]) -> int:
    """POST the job JSON to the configured webhook, signed; retried with backoff."""
    settings = context_of(self.app).settings
    if not settings.webhook_url:
        return 0
    return webhook.deliver(settings.webhook_url, settings.webhook_secret, job)
