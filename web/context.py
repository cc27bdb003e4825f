"""What the web tier's handlers share per app: settings, Redis, the job store, the producer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis
from flask import Flask, current_app

from common.ladder import Profile
from common.redis_config import EvictionWatch
from common.settings import Settings
from common.storage import Storage
from common.store import JobStore

EXTENSION_KEY = "ffcluster"


class TaskProducer(Protocol):
    """The one Celery method the web tier uses: enqueue by name, never wait for a result."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


@dataclass
class WebContext:
    settings: Settings
    redis: redis.Redis
    health_redis: redis.Redis
    store: JobStore
    storage: Storage
    producer: TaskProducer
    ladder: tuple[Profile, ...]
    redis_eviction: EvictionWatch

    @property
    def profile_names(self) -> list[str]:
        return [p.name for p in self.ladder]


def web_context(app: Flask | None = None) -> WebContext:
    """Return the context of ``app``, or of the current app."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
