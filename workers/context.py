"""What a worker process knows about itself: settings, connections, encoders, name."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis
from celery import Celery

from common.events import EventEmitter, job_event
from common.jobs import Job
from common.redis_client import connect
from common.settings import Settings
from common.store import JobStore
from common.tasknames import SEND_WEBHOOK


@dataclass
class WorkerContext:
    """Per-worker state, set up before the pool forks and inherited by its processes."""

    settings: Settings
    hostname: str = "unknown"
    gpu_tagged: bool = False
    hardware_encoders: list[str] = field(default_factory=list)
    hardware_failures: dict[str, str] = field(default_factory=dict)
    ffmpeg_version: str = ""

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.settings.effective_redis_url)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(self.redis)

    @cached_property
    def emitter(self) -> EventEmitter:
        return EventEmitter(self.settings.effective_redis_url)

    def notify_job(self, app: Celery, job: Job) -> None:
        """Tell dashboards (Socket.IO) and the webhook, if any, that the job changed state."""
        self.emitter.emit(job_event(job))
        if self.settings.webhook_url:
            app.send_task(SEND_WEBHOOK, args=[job.to_dict()])


def context_of(app: Celery) -> WorkerContext:
    """Return the context that :func:`workers.app.create_celery_app` attached to ``app``."""
    return app.ffcluster_context  # type: ignore[attr-defined,no-any-return]
