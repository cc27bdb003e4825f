"""The job record in Redis: the single source of truth every process reads and writes.

A job is two hashes. ``keys.job`` holds the header (field ``job``) and one ``r:<profile>``
field per rendition; every state change goes through :meth:`JobStore.update`, a WATCH
transaction checked against the state machines of :mod:`common.states`. ``keys.job_live``
holds live progress, written by one server-side script per progress block with no
transaction, so progress writers never conflict with each other or with state changes.
Reads merge the two: callers always see one whole job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from common import keys, metrics
from common.jobs import Job, Rendition
from common.redis_client import text
from common.states import (
    JOB_FINAL,
    JOB_MACHINE,
    RENDITION_MACHINE,
    IllegalTransition,
    JobState,
    RenditionState,
)

log = logging.getLogger(__name__)

HEADER = "job"
RENDITION_PREFIX = "r:"
LIVE_PREFIX = "p:"
CHUNK_LIVE_PREFIX = "c:"
LIVE_FIELDS = ("percent", "fps", "bitrate_kbps", "speed", "eta_s")
"""Rendition fields that progress writes (through the live hash, never the record)."""

UPLOAD_EXPIRES_IN = frozenset({JobState.FAILED, JobState.CANCELED})
"""States whose upload is kept only for the retention period (for a retry)."""

JobMutation = Callable[[Job], None]
RenditionMutation = Callable[[Job, Rendition], None]


class StaleUpdate(Exception):
    """The record moved on (a final job state, a terminal rendition): the write was refused."""


class RefusedTransition(StaleUpdate, IllegalTransition):
    """A write that no edge of the state machine allows (a late duplicate, a forged record)."""


class LeaseLost(StaleUpdate):
    """The writer no longer holds the lease its write was fenced by: it was refused."""


@dataclass(frozen=True)
class Fence:
    """The lease a worker's write must still hold when it commits: its key and token."""

    key: str
    token: str


_RECORD_PROGRESS = """
local header = redis.call('HGET', KEYS[1], 'job')
if not header or cjson.decode(header).state ~= 'encoding' then return false end
local index = ARGV[1]
local slot = index ~= '' and tonumber(index) + 1 or nil
local bases = {}
for i = 3, #ARGV, 2 do
  local raw = redis.call('HGET', KEYS[1], 'r:' .. ARGV[i])
  if not raw then return false end
  local rendition = cjson.decode(raw)
  if rendition.state ~= 'encoding' then return false end
  local base = rendition.chunk_percent
  if slot and (type(base) ~= 'table' or base[slot] == nil) then
    return false
  end
  bases[#bases + 1] = base
end
local percents = {}
for n, base in ipairs(bases) do
  local profile = ARGV[1 + 2 * n]
  redis.call('HSET', KEYS[2], 'p:' .. profile, ARGV[2 + 2 * n])
  if not slot then
    percents[n] = '-1'
  else
    if base[slot] < 100 then
      redis.call('HSET', KEYS[2], 'c:' .. profile .. ':' .. index, ARGV[2])
    end
    local total = 0
    for i, percent in ipairs(base) do
      if percent < 100 then
        local live = redis.call('HGET', KEYS[2], 'c:' .. profile .. ':' .. (i - 1))
        if live then percent = tonumber(live) end
      end
      total = total + percent
    end
    percents[n] = tostring(total / #base)
  end
end
return percents
"""


def rendition_field(profile: str) -> str:
    return RENDITION_PREFIX + profile


def _live_fields(rendition: Rendition) -> list[str]:
    return [LIVE_PREFIX + rendition.profile,
            *(f"{CHUNK_LIVE_PREFIX}{rendition.profile}:{i}" for i in range(rendition.chunks))]


def _merge_live(rendition: Rendition, live: dict[str, bytes]) -> None:
    """Fold live progress into an encoding rendition (other states ignore stale leftovers)."""
    if rendition.state != RenditionState.ENCODING:
        return
    raw = live.get(LIVE_PREFIX + rendition.profile)
    values = json.loads(raw) if raw else {}
    for name in LIVE_FIELDS:
        if name in values and not (name == "percent" and rendition.chunks):
            setattr(rendition, name, values[name])
    if rendition.chunks and len(rendition.chunk_percent) == rendition.chunks:
        values = [live.get(f"{CHUNK_LIVE_PREFIX}{rendition.profile}:{index}")
                  for index in range(rendition.chunks)]
        rendition.set_chunk_percents([
            float(value) if base < 100.0 and value is not None else base
            for base, value in zip(rendition.chunk_percent, values, strict=True)])


def _decode(raw: dict[Any, Any], live: dict[Any, Any] | None = None) -> Job | None:
    fields = {text(k): v for k, v in raw.items()}
    header = fields.get(HEADER)
    if header is None:
        return None
    data = json.loads(header)
    data["renditions"] = [
        json.loads(fields[rendition_field(p)])
        for p in data.get("profiles", [])
        if rendition_field(p) in fields
    ]
    job = Job.from_dict(data)
    live_fields = {text(k): v for k, v in (live or {}).items()}
    for rendition in job.renditions:
        _merge_live(rendition, live_fields)
    return job


def _serialized(job: Job) -> dict[str, str]:
    fields = {HEADER: json.dumps(job.header_dict(), sort_keys=True)}
    fields.update({rendition_field(r.profile): json.dumps(r.to_dict(), sort_keys=True)
                   for r in job.renditions})
    return fields


def _check_moves(before: Job, after: Job, *, by_user: bool) -> None:
    """Refuse moves the state machines do not allow; stamp the timestamps of those they do."""
    now = time.time()
    try:
        JOB_MACHINE.stamp(after, before.state, by_user=by_user, subject=after.id, now=now)
        states = {r.profile: r.state for r in before.renditions}
        for rendition in after.renditions:
            if rendition.profile in states:
                RENDITION_MACHINE.stamp(rendition, states[rendition.profile], by_user=by_user,
                                        subject=f"{after.id}/{rendition.profile}", now=now)
    except IllegalTransition as exc:
        raise RefusedTransition(str(exc)) from None


class JobStore:
    """Read and change job records atomically (optimistic WATCH/MULTI transactions)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._record_progress = client.register_script(_RECORD_PROGRESS)

    def create(self, job: Job) -> Job:
        pipe = self.redis.pipeline()
        pipe.hset(keys.job(job.id), mapping=_serialized(job))
        pipe.zadd(keys.JOB_INDEX, {job.id: job.created_at})
        pipe.hincrby(keys.JOB_STATE_COUNTS, str(job.state), 1)
        pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.job(job_id))
        pipe.hgetall(keys.job_live(job_id))
        raw, live = pipe.execute()
        return _decode(raw, live)

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.hexists(keys.job(job_id), HEADER))

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
        """Return a page of jobs, newest first, and the total count."""
        ids = [text(i) for i in self.redis.zrevrange(keys.JOB_INDEX, offset, offset + limit - 1)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(keys.job(job_id))
            pipe.hgetall(keys.job_live(job_id))
        replies = pipe.execute()
        decoded = (_decode(replies[i], replies[i + 1]) for i in range(0, len(replies), 2))
        jobs = [job for job in decoded if job is not None]
        return jobs, int(self.redis.zcard(keys.JOB_INDEX))

    def update(self, job_id: str, mutate: JobMutation, *, by_user: bool = False,
               fence: Fence | None = None) -> Job:
        """Apply ``mutate`` to the whole job and write back what changed.

        Every move is checked against the state machines; only ``by_user`` (an explicit
        retry) may take the user-only edges. Refused moves raise :class:`RefusedTransition`.
        A ``fence`` makes the write commit only while its lease is still held, in the same
        transaction (:class:`LeaseLost` otherwise): a worker cut off long enough for its
        work to pass to another can never move the record when it comes back.
        """
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(keys.job(job_id), *([fence.key] if fence else []))
                    if fence is not None and pipe.get(fence.key) != fence.token.encode():
                        raise LeaseLost(f"job {job_id}: the lease {fence.key} is no longer "
                                        "this worker's")
                    job = self._apply(pipe, job_id, mutate, by_user=by_user)
                    pipe.execute()
                    return job
                except redis.WatchError:
                    metrics.add(self.redis, metrics.WATCH_CONFLICTS, "job")
                    log.debug("job %s changed under a transaction; trying again", job_id)

    def _apply(self, pipe: Any, job_id: str, mutate: JobMutation, *, by_user: bool) -> Job:
        key, live_key = keys.job(job_id), keys.job_live(job_id)
        raw = pipe.hgetall(key)
        stored, job = _decode(raw), _decode(raw, pipe.hgetall(live_key))
        if stored is None or job is None:
            raise KeyError(job_id)
        before = _serialized(stored)
        mutate(job)
        _check_moves(stored, job, by_user=by_user)
        job.updated_at = time.time()
        after = _serialized(job)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        folded = [f for r in job.renditions if rendition_field(r.profile) in changed
                  for f in _live_fields(r)]
        pipe.multi()
        if changed:
            pipe.hset(key, mapping=changed)
        if job.state != stored.state:
            pipe.hincrby(keys.JOB_STATE_COUNTS, str(stored.state), -1)
            pipe.hincrby(keys.JOB_STATE_COUNTS, str(job.state), 1)
            if job.state in UPLOAD_EXPIRES_IN:
                pipe.zadd(keys.UPLOADS_TO_EXPIRE, {job.id: job.updated_at})
            else:
                pipe.zrem(keys.UPLOADS_TO_EXPIRE, job.id)
        if folded:
            pipe.hdel(live_key, *folded)
        return job

    def update_rendition(
        self, job_id: str, profile: str, mutate: RenditionMutation, *,
        allow_terminal: bool = False, fence: Fence | None = None,
    ) -> Job:
        """Apply ``mutate`` to one rendition; refuse if the job is final or it is terminal."""

        def apply(job: Job) -> None:
            rendition = job.rendition(profile)
            if job.state in JOB_FINAL:
                raise StaleUpdate(f"job {job_id} is {job.state}")
            if rendition.terminal and not allow_terminal:
                raise StaleUpdate(f"rendition {job_id}/{profile} is {rendition.state}")
            mutate(job, rendition)

        return self.update(job_id, apply, fence=fence)

    def set_state(self, job_id: str, state: JobState, error: str | None = None) -> Job:
        def apply(job: Job) -> None:
            job.state = state
            if error is not None:
                job.error = error

        return self.update(job_id, apply)

    def record_progress(self, job_id: str, renditions: dict[str, dict[str, Any]],
                        chunk: tuple[int, float] | None = None) -> dict[str, float] | None:
        """Write one FFmpeg progress block (the values of each rendition it encodes) in one
        script, without a transaction; return each rendition's percent.

        ``chunk`` is (slice index, that slice's percent) for split-and-stitch. Returns None,
        writing nothing, when any of the renditions is no longer encoding (canceled,
        finished elsewhere): the FFmpeg stops.
        """
        index, chunk_percent = chunk if chunk is not None else ("", "")
        args: list[Any] = [index, chunk_percent]
        for profile, values in renditions.items():
            args += [profile, json.dumps(values)]
        reply = self._record_progress(keys=[keys.job(job_id), keys.job_live(job_id)], args=args)
        if reply is None:
            return None
        percents = {}
        for (profile, values), raw in zip(renditions.items(), reply, strict=True):
            percent = float(text(raw))
            percents[profile] = (float(values.get("percent") or 0.0) if percent < 0
                                 else round(percent, 1))
        return percents

    def state_counts(self) -> dict[str, int]:
        """How many jobs are in each state (one hash read, for /metrics)."""
        return {text(k): int(v) for k, v in self.redis.hgetall(keys.JOB_STATE_COUNTS).items()}

    def uploads_expired(self, before: float) -> list[str]:
        """Ids of failed or canceled jobs that ended before ``before``."""
        return [text(i) for i in self.redis.zrangebyscore(keys.UPLOADS_TO_EXPIRE, 0, before)]

    def forget_expiry(self, job_id: str) -> None:
        self.redis.zrem(keys.UPLOADS_TO_EXPIRE, job_id)

    def still_encoding(self, job_id: str, profiles: list[str]) -> bool:
        """Cheap check (the header and the renditions' fields, one read) that the job and
        every one of ``profiles`` are still encoding."""
        header, *raws = self.redis.hmget(keys.job(job_id), HEADER,
                                         *(rendition_field(p) for p in profiles))
        if header is None or json.loads(header).get("state") != "encoding":
            return False
        return all(raw is not None and json.loads(raw).get("state") == RenditionState.ENCODING
                   for raw in raws)
