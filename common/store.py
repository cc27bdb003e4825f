"""The job record in Redis: the single source of truth every process reads and writes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from common import keys
from common.jobs import JOB_FINAL, Job, JobState, Rendition

log = logging.getLogger(__name__)

HEADER = "job"
RENDITION_PREFIX = "r:"

JobMutation = Callable[[Job], None]
RenditionMutation = Callable[[Job, Rendition], None]


class StaleUpdate(Exception):
    """The record moved on (a final job state, a terminal rendition): the write was refused."""


def _rendition_field(profile: str) -> str:
    return RENDITION_PREFIX + profile


def _decode(raw: dict[Any, Any]) -> Job | None:
    fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    header = fields.get(HEADER)
    if header is None:
        return None
    data = json.loads(header)
    data["renditions"] = [
        json.loads(fields[_rendition_field(p)])
        for p in data.get("profiles", [])
        if _rendition_field(p) in fields
    ]
    return Job.from_dict(data)


class JobStore:
    """Read and change job records atomically (optimistic WATCH/MULTI transactions)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, job: Job) -> Job:
        mapping = {HEADER: json.dumps(job.header_dict())}
        for rendition in job.renditions:
            mapping[_rendition_field(rendition.profile)] = json.dumps(rendition.to_dict())
        pipe = self.redis.pipeline()
        pipe.hset(keys.job(job.id), mapping=mapping)
        pipe.zadd(keys.JOB_INDEX, {job.id: job.created_at})
        pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        return _decode(self.redis.hgetall(keys.job(job_id)))

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.hexists(keys.job(job_id), HEADER))

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
        """Return a page of jobs, newest first, and the total count."""
        ids = self.redis.zrevrange(keys.JOB_INDEX, offset, offset + limit - 1)
        pipe = self.redis.pipeline()
        for job_id in ids:
            pipe.hgetall(keys.job(job_id.decode() if isinstance(job_id, bytes) else job_id))
        jobs = [job for job in (_decode(raw) for raw in pipe.execute()) if job is not None]
        return jobs, int(self.redis.zcard(keys.JOB_INDEX))

    def update(self, job_id: str, mutate: JobMutation, *, allow_final: bool = False) -> Job:
        """Apply ``mutate`` to the whole job and write back what changed.

        A job in ``done`` or ``canceled`` is never moved to another state unless
        ``allow_final`` (an explicit user retry) says so: late duplicates get
        :class:`StaleUpdate`.
        """
        key = keys.job(job_id)
        result: dict[str, Job] = {}

        def transaction(pipe: redis.client.Pipeline) -> None:
            job = _decode(pipe.hgetall(key))
            if job is None:
                raise KeyError(job_id)
            before = {HEADER: json.dumps(job.header_dict(), sort_keys=True)}
            before.update(_rendition_fields(job))
            original_state = job.state
            mutate(job)
            if original_state in JOB_FINAL and job.state != original_state and not allow_final:
                raise StaleUpdate(f"job {job_id} is {original_state} and stays so")
            job.updated_at = time.time()
            after = {HEADER: json.dumps(job.header_dict(), sort_keys=True)}
            after.update(_rendition_fields(job))
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            pipe.multi()
            if changed:
                pipe.hset(key, mapping=changed)
            result["job"] = job

        self.redis.transaction(transaction, key)
        return result["job"]

    def update_rendition(
        self, job_id: str, profile: str, mutate: RenditionMutation, *, allow_terminal: bool = False
    ) -> Job:
        """Apply ``mutate`` to one rendition; refuse if the job is final or it is terminal."""

        def apply(job: Job) -> None:
            rendition = job.rendition(profile)
            if job.state in JOB_FINAL:
                raise StaleUpdate(f"job {job_id} is {job.state}")
            if rendition.terminal and not allow_terminal:
                raise StaleUpdate(f"rendition {job_id}/{profile} is {rendition.state}")
            mutate(job, rendition)

        return self.update(job_id, apply)

    def set_state(self, job_id: str, state: JobState, error: str | None = None) -> Job:
        def apply(job: Job) -> None:
            job.state = state
            if error is not None:
                job.error = error
            if state in (JobState.DONE, JobState.FAILED, JobState.CANCELED):
                job.finished_at = time.time()

        return self.update(job_id, apply)


def _rendition_fields(job: Job) -> dict[str, str]:
    return {
        _rendition_field(r.profile): json.dumps(r.to_dict(), sort_keys=True)
        for r in job.renditions
    }
