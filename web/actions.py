"""The state changes the web tier makes (submit, cancel, retry) and what follows each."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from common import lifecycle, tasknames
from common.events import Envelope, JobNotifier
from common.idempotency import IdempotencyKeys, is_idempotency_key
from common.jobs import Job, JobMode
from common.ladder import LadderError, select_profiles
from common.pertitle import LadderMode
from common.settings import parse_bool
from common.states import JobState
from web.context import WebContext
from web.errors import ApiError
from web.extensions import socketio

log = logging.getLogger(__name__)


def _emit(envelope: Envelope) -> None:
    socketio.emit(str(envelope.type), envelope.payload(), to=envelope.rooms())


def announce(ctx: WebContext, job: Job) -> None:
    """Tell Socket.IO clients (through Redis, every web process) and the webhook."""
    JobNotifier(_emit, ctx.producer.send_task, ctx.settings.webhook_url).notify(job)


def parse_profiles(ctx: WebContext, raw: str | None) -> list[str] | None:
    """Return the requested profile names (None for the whole ladder) or raise a 400."""
    names = [name.strip() for name in (raw or "").split(",") if name.strip()]
    if not names:
        return None
    try:
        select_profiles(ctx.ladder, names)
    except LadderError as exc:
        raise ApiError(400, str(exc)) from exc
    return list(dict.fromkeys(names))


def parse_mode(raw: str | None) -> JobMode:
    value = (raw or JobMode.ENCODE.value).strip().lower()
    try:
        return JobMode(value)
    except ValueError:
        raise ApiError(400, f"Mode must be 'encode' or 'passthrough', not {value!r}.") from None


def parse_flag(name: str, raw: str | None, default: bool) -> bool:
    """Return a true/false form field, ``default`` when absent, or raise a 400."""
    if raw is None or not raw.strip():
        return default
    value = parse_bool(raw)
    if value is not None:
        return value
    raise ApiError(400, f"The field {name!r} must be true or false, not {raw[:40]!r}.")


def parse_chunk_seconds(raw: str | None) -> int | None:
    """Return the requested chunk length (0 turns chunking off; absent lets the cluster choose)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ApiError(400, f"chunk_seconds must be a whole number of seconds, not {raw[:40]!r}.")\
            from None
    if not 0 <= value <= 3600:
        raise ApiError(400, "chunk_seconds must be between 0 (no chunking) and 3600.")
    return value


def enqueue_probe(ctx: WebContext, job: Job) -> Job:
    """Send the job's first task (the fetch of a URL source, else the probe); if the broker
    refuses, fail the job and answer 503."""
    first = tasknames.INGEST_SOURCE if job.source_url else tasknames.PROBE_JOB
    try:
        ctx.producer.send_task(first, args=[job.id], queue=tasknames.QUEUE_CPU)
    except Exception as exc:
        log.error("could not enqueue job %s: %s", job.id, exc)
        failed = ctx.store.set_state(job.id, JobState.FAILED, error="The queue was unreachable.")
        announce(ctx, failed)
        raise ApiError(503, "The job queue is unreachable; the job was not started.") from exc
    return job


def parse_idempotency_key(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if not is_idempotency_key(raw):
        raise ApiError(400, "idempotency_key must be 1 to 128 letters, digits or . _ : -.")
    return raw


def parse_ladder(raw: str | None, target_given: bool, default: str) -> LadderMode:
    """The job's ladder: as named, else per-title when a target SSIM is given, else the
    cluster's default."""
    value = (raw or "").strip().lower() or (LadderMode.PER_TITLE.value if target_given
                                            else default)
    try:
        return LadderMode(value)
    except ValueError:
        raise ApiError(400, f"ladder must be 'fixed' or 'per-title', not {value[:40]!r}.") \
            from None


def parse_target_ssim(raw: str | None) -> float | None:
    """The SSIM a per-title job aims at, None when absent, or a 400."""
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        raise ApiError(400, f"target_ssim must be a number such as 0.98, not {raw[:40]!r}.") \
            from None
    if not 0.5 <= value < 1.0:
        raise ApiError(400, "target_ssim must be at least 0.5 and under 1 (1 means a copy "
                            "of the source, which no bitrate reaches).")
    return value


JOB_OPTIONS = ("profiles", "mode", "hls", "quality", "chunk_seconds", "idempotency_key",
               "ladder", "target_ssim")
"""The options a job takes however its source arrives (form, JSON, tus metadata)."""


def job_options(ctx: WebContext, raw: Mapping[str, str | None]) -> dict[str, Any]:
    """The :class:`Job` fields the text options in ``raw`` ask for, or a 400 with a sentence."""
    target = parse_target_ssim(raw.get("target_ssim"))
    ladder = parse_ladder(raw.get("ladder"), target is not None, ctx.settings.ladder)
    per_title = ladder == LadderMode.PER_TITLE
    return {
        "ladder": ladder,  # a fixed job has no target (one given with ladder=fixed is unused)
        "target_ssim": (target or ctx.settings.target_ssim) if per_title else None,
        "requested_profiles": parse_profiles(ctx, raw.get("profiles")),
        "mode": parse_mode(raw.get("mode")),
        "hls": parse_flag("hls", raw.get("hls"), ctx.settings.hls),
        "quality": parse_flag("quality", raw.get("quality"), False),
        "chunk_seconds": parse_chunk_seconds(raw.get("chunk_seconds")),
        "idempotency_key": parse_idempotency_key(raw.get("idempotency_key")),
    }


def existing_job(ctx: WebContext, job: Job) -> Job | None:
    """The job that already owns ``job``'s idempotency key, if another does."""
    if not job.idempotency_key:
        return None
    owner = IdempotencyKeys(ctx.redis).claim(job.idempotency_key, job.id)
    return None if owner == job.id else ctx.store.get(owner)


def submit(ctx: WebContext, job: Job) -> Job:
    ctx.store.create(job)
    log.info("job %s submitted (%s, %d bytes)", job.id, job.source_name, job.size_bytes)
    enqueue_probe(ctx, job)
    announce(ctx, job)
    return job


def cancel(ctx: WebContext, job_id: str) -> Job:
    try:
        job = lifecycle.cancel_job(ctx.store, job_id)
    except lifecycle.TransitionRefused as exc:
        raise ApiError(409, str(exc)) from exc
    except KeyError:
        raise ApiError(404, f"No job has the id {job_id!r}.") from None
    log.info("job %s canceled", job_id)
    announce(ctx, job)
    return job


def retry(ctx: WebContext, job_id: str) -> Job:
    try:
        job = lifecycle.reset_for_retry(ctx.store, job_id)
    except lifecycle.TransitionRefused as exc:
        raise ApiError(409, str(exc)) from exc
    except KeyError:
        raise ApiError(404, f"No job has the id {job_id!r}.") from None
    log.info("job %s retried", job_id)
    enqueue_probe(ctx, job)
    announce(ctx, job)
    return job
