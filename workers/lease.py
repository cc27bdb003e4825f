"""Leases on running renditions: renewed by their worker, reaped by others when they lapse."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from common import keys
from common.registry import task_ref

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lease:
    """The right to encode one rendition, held while renewed."""

    client: redis.Redis
    key: str
    token: str
    ttl_s: float

    def renew(self) -> bool:
        """Extend the lease; False means another worker owns it now."""
        renewed = self.client.eval(_RENEW, 1, self.key, self.token, int(self.ttl_s * 1000))
        return bool(renewed)

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)


def acquire(client: redis.Redis, job_id: str, profile: str, hostname: str,
            task_id: str | None, ttl_s: float) -> Lease | None:
    """Take the rendition's lease, or None while someone alive holds it.

    A lease left by a pool process of this same worker that has died (``kill -9``
    of the child) is taken over at once instead of waiting for it to lapse.
    """
    key = keys.lease(job_id, profile)
    token = holder_token(hostname, task_id)
    if client.set(key, token, nx=True, px=int(ttl_s * 1000)):
        return Lease(client, key, token, ttl_s)
    current = client.get(key)
    if current is None:
        return acquire(client, job_id, profile, hostname, task_id, ttl_s)
    holder_host, _, rest = current.decode().partition("|")
    holder_pid = int(rest.partition("|")[0] or 0)
    if holder_host == hostname and holder_pid and not _pid_alive(holder_pid):
        log.warning("taking over %s from dead process %s", key, holder_pid)
        client.set(key, token, px=int(ttl_s * 1000))
        return Lease(client, key, token, ttl_s)
    return None


@contextmanager
def held(client: redis.Redis, job_id: str, work: str, hostname: str, task_id: str | None,
         ttl_s: float, *, still_open: Callable[[], bool]) -> Iterator[Lease | None]:
    """Hold the lease on one piece of work (None when a live worker has it) while listed.

    The work ref ``<job_id>/<work>`` is in the active set for the reaper while the block
    runs; it stays there afterwards when ``still_open()`` says the work did not finish
    (so an interrupted task is queued again once its lease is gone).
    """
    lease = acquire(client, job_id, work, hostname, task_id, ttl_s)
    if lease is None:
        yield None
        return
    ref = task_ref(job_id, work)
    client.sadd(keys.ACTIVE_RENDITIONS, ref)
    client.sadd(keys.worker_tasks(hostname), ref)
    try:
        yield lease
    finally:
        lease.release()
        client.srem(keys.worker_tasks(hostname), ref)
        if not still_open():
            client.srem(keys.ACTIVE_RENDITIONS, ref)
