"""Whether the Redis ffcluster is given may drop what it stores.

Everything the cluster knows lives in Redis: job records, the Celery queues, leases,
worker heartbeats. A Redis with a memory limit and any ``maxmemory-policy`` but
``noeviction`` (``allkeys-lru`` is common on a Redis set up as a cache, and some managed
services default to a ``volatile-*`` one) deletes keys when it fills up, without a word:
a job vanishes, a queued task is never run, a lease expires early. ``noeviction`` makes a
full Redis refuse writes instead, which the cluster reports as errors. The web tier and each
worker check at start and say so in their logs; ``/api/health`` carries the sentence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

SAFE_POLICY = "noeviction"
RECHECK_S = 60.0
"""How long the web tier's health answer reuses the last look at Redis's configuration."""


def eviction_risk(client: redis.Redis) -> str | None:
    """A sentence when ``client``'s Redis may evict keys; None when it cannot, or when it
    does not say (INFO refused, as some managed services do, or Redis unreachable)."""
    try:
        memory = client.info("memory")
    except redis.RedisError as exc:
        log.debug("cannot read Redis's memory settings: %s", exc)
        return None
    limit = int(memory.get("maxmemory") or 0)
    policy = str(memory.get("maxmemory_policy") or SAFE_POLICY)
    if not limit or policy == SAFE_POLICY:
        return None
    return (f"Redis may evict keys: maxmemory is {memory.get('maxmemory_human') or limit} "
            f"with maxmemory-policy {policy}, so job records, queued tasks and leases could "
            f"vanish when it fills up. Set maxmemory-policy to {SAFE_POLICY}.")


def log_eviction_risk(warning: str | None, who: str) -> None:
    """Log what :func:`eviction_risk` found as an error of ``who`` (a process starting)."""
    if warning is not None:
        log.error("%s: %s", who, warning)


class EvictionWatch:
    """:func:`eviction_risk` of one Redis, looked at again at most every ``every_s``."""

    def __init__(self, client: redis.Redis, every_s: float = RECHECK_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.every_s, self.clock = client, every_s, clock
        self._checked_at: float | None = None
        self._warning: str | None = None

    def warning(self) -> str | None:
        now = self.clock()
        if self._checked_at is None or now - self._checked_at >= self.every_s:
            self._checked_at = now
            self._warning = eviction_risk(self.client)
        return self._warning
