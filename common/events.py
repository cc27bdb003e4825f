"""The event envelope and the one helper that emits it to Socket.IO clients through Redis.

Workers (and the web tier) publish through a write-only Socket.IO Redis manager, so an
event reaches every web process and, from each, the clients in the event's rooms. Events
are a fast path only: each one is also written to the job record first, and clients
resync from the record after any reconnect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import socketio

from common import keys, tasknames

log = logging.getLogger(__name__)

EVENT_VERSION = 2
"""2: a ``progress`` event carries every rendition of one FFmpeg (``renditions``)."""
NAMESPACE = "/"
DASHBOARD_ROOM = "dashboard"


class EventType(StrEnum):
    JOB = "job"
    PROGRESS = "progress"
    WORKERS = "workers"
    REDIS = "redis"
    """A web process lost or regained Redis: live events pause, then clients resync."""


def job_room(job_id: str) -> str:
    return f"job:{job_id}"


@dataclass(frozen=True)
class Envelope:
    """One typed, versioned event: ``type`` is the Socket.IO event name."""

    type: EventType
    data: dict[str, Any]
    job_id: str | None = None
    ts: float = field(default_factory=time.time)

    def payload(self) -> dict[str, Any]:
        body = {"v": EVENT_VERSION, "type": str(self.type), "ts": self.ts}
        if self.job_id is not None:
            body["job_id"] = self.job_id
        body.update(self.data)
        return body

    def rooms(self) -> list[str]:
        """Who gets it: job changes go to every dashboard, progress only to the job's room.

        Progress is most of the traffic (4 a second per encode), and a dashboard joins the
        room of every unfinished job it shows; sending it to all clients too made every
        client receive every job's progress, which is what slowed a loaded web tier.
        """
        if self.job_id is None:
            return [DASHBOARD_ROOM]
        if self.type == EventType.PROGRESS:
            return [job_room(self.job_id)]
        return [DASHBOARD_ROOM, job_room(self.job_id)]


def job_event(job: Any) -> Envelope:
    """Build the ``job`` event: the full job JSON."""
    return Envelope(EventType.JOB, {"job": job.to_dict()}, job_id=job.id)


def progress_event(job_id: str, renditions: dict[str, dict[str, Any]],
                   ts: float | None = None) -> Envelope:
    """Build the ``progress`` event of one FFmpeg progress block: the values of each
    rendition it encodes (a fused ladder's renditions share one event); ``ts`` is when
    FFmpeg's block was read, if known."""
    return Envelope(EventType.PROGRESS,
                    {"renditions": [{"profile": profile, **values}
                                    for profile, values in renditions.items()]},
                    job_id=job_id, ts=ts or time.time())


def workers_event(workers: list[dict[str, Any]]) -> Envelope:
    return Envelope(EventType.WORKERS, {"workers": workers})


def redis_event(reachable: bool) -> Envelope:
    return Envelope(EventType.REDIS, {"reachable": reachable})


class EventEmitter:
    """Write-only Socket.IO emitter for processes that hold no client connections."""

    def __init__(self, redis_url: str) -> None:
        self._manager = socketio.RedisManager(
            redis_url, channel=keys.SOCKETIO_CHANNEL, write_only=True, logger=False
        )

    def emit(self, envelope: Envelope) -> None:
        """Publish one envelope; a Redis hiccup loses the event, never the caller's work."""
        try:
            self._manager.emit(
                str(envelope.type), envelope.payload(), namespace=NAMESPACE, room=envelope.rooms()
            )
        except Exception:  # events are best effort: the record is the truth
            log.warning("could not publish %s event", envelope.type, exc_info=True)


class JobNotifier:
    """Tell dashboards and the webhook that a job changed: the one "notify" of both tiers.

    ``emit`` publishes an envelope (the web tier's Socket.IO server, or a worker's
    :class:`EventEmitter`); ``send_task`` enqueues the webhook delivery for a worker.
    Neither failure reaches the caller: the record is already written.
    """

    def __init__(self, emit: Callable[[Envelope], None], send_task: Callable[..., Any],
                 webhook_url: str | None) -> None:
        self.emit, self.send_task, self.webhook_url = emit, send_task, webhook_url

    def notify(self, job: Any) -> None:
        envelope = job_event(job)
        try:
            self.emit(envelope)
        except Exception:  # events are a fast path; clients resync from the record
            log.warning("could not emit the job event for %s", job.id, exc_info=True)
        if not self.webhook_url:
            return
        try:
            self.send_task(tasknames.SEND_WEBHOOK, args=[job.to_dict()],
                           queue=tasknames.QUEUE_CPU)
        except Exception:  # a webhook must never fail the step or request that changed the job
            log.warning("could not enqueue the webhook for job %s", job.id, exc_info=True)
