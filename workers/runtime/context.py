"""What a worker process knows about itself: settings, connections, encoders, name, producer."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import redis

from common.events import EventEmitter, JobNotifier
from common.jobs import Job
from common.redis_client import connect
from common.settings import Settings
from common.storage import Storage, open_storage
from common.store import JobStore


class TaskSender(Protocol):
    """The one Celery method job steps use: enqueue by name."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


@dataclass
class WorkerContext:
    """Per-worker state, set up before the pool forks and inherited by its processes.

    ``producer`` is the Celery app this context was bound to (once, by the app factory),
    so job steps send tasks through the context and never need the app itself.
    """

    settings: Settings
    producer: TaskSender | None = None
    hostname: str = "unknown"
    gpu_tagged: bool = False
    hardware_encoders: list[str] = field(default_factory=list)
    hardware_failures: dict[str, str] = field(default_factory=dict)
    software_codecs: list[str] = field(default_factory=list)
    """Codecs whose software encoder this worker's FFmpeg has (it can always encode them)."""
    ffmpeg_version: str = ""

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.settings.effective_redis_url)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(self.redis)

    @cached_property
    def storage(self) -> Storage:
        return open_storage(self.settings)

    @cached_property
    def emitter(self) -> EventEmitter:
        return EventEmitter(self.settings.effective_redis_url)

    def send(self, name: str, args: list[Any], queue: str | None = None) -> None:
        """Enqueue a task by name (on ``queue``, or where the task routes say)."""
        assert self.producer is not None, "the context was never bound to a Celery app"
        options = {} if queue is None else {"queue": queue}
        self.producer.send_task(name, args=args, **options)

    @cached_property
    def notifier(self) -> JobNotifier:
        assert self.producer is not None, "the context was never bound to a Celery app"
        return JobNotifier(self.emitter.emit, self.producer.send_task, self.settings.webhook_url)

    def notify_job(self, job: Job) -> None:
        """Tell dashboards (Socket.IO) and the webhook, if any, that the job changed."""
        self.notifier.notify(job)


def context_of(app: Any) -> WorkerContext:
    """Return the context that :func:`workers.runtime.app.create_celery_app` bound to ``app``."""
    return app.ffcluster_context  # type: ignore[no-any-return]
