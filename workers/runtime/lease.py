"""Leases on running work: renewed by their worker, reaped by others when they lapse."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from common import keys
from common.pids import pid_alive
from common.redis_client import text
from common.store import Fence
from common.workref import WorkRef

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def holder_token(hostname: str, task_id: str | None) -> str:
    return f"{hostname}|{os.getpid()}|{task_id or '-'}"



@dataclass
class Lease:
    """The right to do one piece of work, held while renewed."""

    client: redis.Redis
    ref: WorkRef
    token: str
    ttl_s: float

    @property
    def key(self) -> str:
        return keys.lease(self.ref)

    @property
    def fence(self) -> Fence:
        """What a write made under this lease checks at commit."""
        return Fence(self.key, self.token)

    def renew(self) -> bool:
        """Extend the lease; False means another worker owns it now."""
        renewed = self.client.eval(_RENEW, 1, self.key, self.token, int(self.ttl_s * 1000))
        return bool(renewed)

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)


class LeaseKeeper:
    """Renew leases every ``every_s`` from a thread while a step holds them.

    FFmpeg's progress renews a lease while it encodes; this keeps it through everything
    else a step does (downloading a source, uploading outputs, retrying an object store
    that went away), so a slow transfer never lets the work pass to another worker. A
    worker cut off from Redis cannot renew, and its work passes on, as it should.
    """

    def __init__(self, leases: list[Lease], every_s: float) -> None:
        self.leases, self.every_s = leases, every_s
        self.lost: set[WorkRef] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ffcluster-lease-keeper",
                                        daemon=True)

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            for lease in self.leases:
                if lease.ref in self.lost:
                    continue
                try:
                    if not lease.renew():
                        log.warning("lost the lease on %s", lease.ref)
                        self.lost.add(lease.ref)
                except redis.RedisError as exc:
                    log.warning("could not renew the lease on %s: %s", lease.ref, exc)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=self.every_s + 15)


def acquire(client: redis.Redis, ref: WorkRef, hostname: str, task_id: str | None,
            ttl_s: float) -> Lease | None:
    """Take the lease on ``ref``, or None while someone alive holds it.

    A lease left by a pool process of this same worker that has died (``kill -9``
    of the child) is taken over at once instead of waiting for it to lapse.
    """
    key, token = keys.lease(ref), holder_token(hostname, task_id)
    for _ in range(3):
        if client.set(key, token, nx=True, px=int(ttl_s * 1000)):
            return Lease(client, ref, token, ttl_s)
        current = client.get(key)
        if current is None:
            continue  # it lapsed between the two calls
        holder_host, _, rest = text(current).partition("|")
        holder_pid = int(rest.partition("|")[0] or 0)
        if holder_host == hostname and holder_pid and not pid_alive(holder_pid):
            log.warning("taking over %s from dead process %s", key, holder_pid)
            client.set(key, token, px=int(ttl_s * 1000))
            return Lease(client, ref, token, ttl_s)
        return None
    return None


@contextmanager
def held(client: redis.Redis, ref: WorkRef, hostname: str, task_id: str | None, ttl_s: float,
         *, still_open: Callable[[], bool]) -> Iterator[Lease | None]:
    """Hold the lease on ``ref`` (None when a live worker has it) while it is listed.

    The ref is in the active set for the reaper while the block runs; it stays there
    afterwards when ``still_open()`` says the work did not finish (so an interrupted task
    is queued again once its lease is gone).
    """
    lease = acquire(client, ref, hostname, task_id, ttl_s)
    if lease is None:
        yield None
        return
    client.sadd(keys.ACTIVE_WORK, str(ref))
    client.sadd(keys.worker_tasks(hostname), str(ref))
    try:
        yield lease
    finally:
        lease.release()
        client.srem(keys.worker_tasks(hostname), str(ref))
        if not still_open():
            client.srem(keys.ACTIVE_WORK, str(ref))
