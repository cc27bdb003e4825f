"""Worker start-up and life: GPU tagging, the heartbeat, and reaping abandoned renditions."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from celery import Celery
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown

from common import keys, registry
from common.jobs import Job, Rendition, RenditionState
from common.redis_client import connect
from common.registry import WorkerInfo, choose_queue
from common.store import JobStore, StaleUpdate
from common.tasknames import (
    ENCODE_CHUNK,
    ENCODE_RENDITION,
    QUEUE_CPU,
    QUEUE_GPU,
    STITCH_RENDITION,
)
from workers.context import WorkerContext, context_of
from workers.ffmpeg.encoders import (
    ffmpeg_version,
    listed_hardware_encoders,
    probe_hardware_encoders,
)

log = logging.getLogger(__name__)

_heartbeat: Heartbeat | None = None


def tag_worker(ctx: WorkerContext) -> bool:
    """Probe hardware encoders and decide the GPU tag; return whether the worker is tagged."""
    settings = ctx.settings
    ctx.ffmpeg_version = ffmpeg_version(settings.ffmpeg_bin)
    if settings.gpu == "off":
        return False
    working, failures = probe_hardware_encoders(settings.ffmpeg_bin)
    ctx.hardware_failures = failures
    if working:
        ctx.hardware_encoders = working
    elif settings.gpu == "on":
        # Tagged by request: try every listed encoder so a failing GPU falls back visibly.
        ctx.hardware_encoders = listed_hardware_encoders(settings.ffmpeg_bin)
    ctx.gpu_tagged = bool(working) or settings.gpu == "on"
    return ctx.gpu_tagged


@celeryd_after_setup.connect
def _after_setup(sender: str, instance: Any, **_: Any) -> None:
    ctx = context_of(instance.app)
    ctx.hostname = sender
    if tag_worker(ctx):
        queues = instance.app.amqp.queues
        queues.select_add(queues[QUEUE_GPU])
    log.info("worker %s: gpu=%s encoders=%s", sender, ctx.gpu_tagged, ctx.hardware_encoders)


def worker_info(ctx: WorkerContext, queues: list[str]) -> WorkerInfo:
    working = [e for e in ctx.hardware_encoders if e not in ctx.hardware_failures]
    return WorkerInfo(
        hostname=ctx.hostname, gpu=ctx.gpu_tagged, encoders=[*working, "libx264"],
        ffmpeg_version=ctx.ffmpeg_version, concurrency=ctx.settings.concurrency,
        queues=queues, pid=os.getpid(), hw_failures=ctx.hardware_failures,
    )


def _requeue_rendition(app: Celery, store: JobStore, job_id: str, profile: str) -> bool:
    queue = choose_queue(store.redis)

    def apply(job: Job, rendition: Rendition) -> None:
        rendition.state, rendition.queue, rendition.percent = RenditionState.QUEUED, queue, 0.0
        rendition.error = f"Its worker {rendition.worker} stopped; queued again."

    store.update_rendition(job_id, profile, apply)
    app.send_task(ENCODE_RENDITION, args=[job_id, profile], queue=queue)
    return True


def _requeue_chunk(app: Celery, store: JobStore, job: Job, index: int) -> bool:
    open_renditions = [r for r in job.renditions
                       if r.chunks and not r.terminal and r.chunk_percent[index] < 100.0]
    if not open_renditions:
        return False

    def apply(job: Job, rendition: Rendition) -> None:
        rendition.chunk_percent[index] = 0.0
        rendition.percent = round(sum(rendition.chunk_percent) / rendition.chunks, 1)

    for rendition in open_renditions:
        store.update_rendition(job.id, rendition.profile, apply)
    app.send_task(ENCODE_CHUNK, args=[job.id, index], queue=open_renditions[0].queue or "cpu")
    return True


def _requeue(app: Celery, store: JobStore, job: Job, work: str) -> bool:
    """Put one abandoned piece of work back on its queue; False when nothing is left to do."""
    if work.startswith("#"):
        return _requeue_chunk(app, store, job, int(work[1:]))
    profile = work.removeprefix("~")
    if profile not in {r.profile for r in job.renditions} or job.rendition(profile).terminal:
        return False
    if work.startswith("~"):
        app.send_task(STITCH_RENDITION, args=[job.id, profile],
                      queue=job.rendition(profile).queue or "cpu")
        return True
    return _requeue_rendition(app, store, job.id, profile)


def requeue_abandoned(app: Celery, store: JobStore) -> list[str]:
    """Put work whose worker stopped renewing its lease back on a queue.

    Work refs are ``job/profile`` (a rendition), ``job/#3`` (a chunk) and ``job/~profile``
    (a stitch); the part after the slash also names the lease.
    """
    client = store.redis
    requeued = []
    for raw in client.smembers(keys.ACTIVE_RENDITIONS):
        ref = raw.decode()
        job_id, _, work = ref.partition("/")
        if client.exists(keys.lease(job_id, work)):
            continue
        if not client.set(keys.reap_lock(job_id, work), "1", nx=True, px=10_000):
            continue
        job = store.get(job_id)
        try:
            done = job is None or job.terminal or not _requeue(app, store, job, work)
        except StaleUpdate:
            done = True
        client.srem(keys.ACTIVE_RENDITIONS, ref)
        if not done:
            log.warning("requeued abandoned work %s", ref)
            requeued.append(ref)
    return requeued


def rescue_stranded_gpu_tasks(client: redis.Redis) -> int:
    """Move tasks waiting on ``gpu`` to ``cpu`` while no GPU-tagged worker is online."""
    if choose_queue(client) == QUEUE_GPU:
        return 0
    moved = 0
    while client.rpoplpush(QUEUE_GPU, QUEUE_CPU) is not None:
        moved += 1
    if moved:
        log.warning("no GPU worker online: moved %d waiting task(s) from gpu to cpu", moved)
    return moved


class Heartbeat(threading.Thread):
    """Advertise the worker every ``heartbeat_s`` and reap lapsed leases, in the main process."""

    def __init__(self, app: Celery, ctx: WorkerContext, queues: list[str]) -> None:
        super().__init__(name="ffcluster-heartbeat", daemon=True)
        self.app, self.ctx, self.queues = app, ctx, queues
        self.client = connect(ctx.settings.effective_redis_url)
        self.stopping = threading.Event()

    def beat(self) -> None:
        settings = self.ctx.settings
        registry.announce(self.client, worker_info(self.ctx, self.queues),
                          ttl_s=settings.heartbeat_s * 3)
        requeue_abandoned(self.app, JobStore(self.client))
        rescue_stranded_gpu_tasks(self.client)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.beat()
            except Exception:  # a Redis outage must not kill the heartbeat: retry next beat
                log.warning("heartbeat failed", exc_info=True)
            self.stopping.wait(self.ctx.settings.heartbeat_s)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        try:
            registry.retire(self.client, self.ctx.hostname)
        except Exception:
            log.warning("could not retire %s", self.ctx.hostname, exc_info=True)


@worker_ready.connect
def _start_heartbeat(sender: Any, **_: Any) -> None:
    global _heartbeat
    app = sender.app
    ctx = context_of(app)
    queues = sorted(q.name for q in app.amqp.queues.consume_from.values()) or [QUEUE_CPU]
    _heartbeat = Heartbeat(app, ctx, queues)
    _heartbeat.beat()
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
