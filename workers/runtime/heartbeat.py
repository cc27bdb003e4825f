"""The heartbeat: advertise the worker, reap lapsed leases, rescue stranded GPU tasks."""

from __future__ import annotations

import logging
import os
import threading

from common import registry
from common.codecs import FAMILIES, codec_of_encoder, parse_codec
from common.redis_client import connect
from common.registry import WorkerInfo
from common.resumable import ResumableStore
from common.store import JobStore
from workers.runtime.context import WorkerContext
from workers.runtime.reaper import requeue_abandoned, rescue_stranded_gpu_tasks
from workers.runtime.retention import (
    evict_finished_sources,
    remove_expired_resumable_uploads,
    remove_expired_uploads,
)

log = logging.getLogger(__name__)


def worker_info(ctx: WorkerContext, queues: list[str]) -> WorkerInfo:
    working = [e for e in ctx.hardware_encoders if e not in ctx.hardware_failures]
    software = [FAMILIES[parse_codec(c)].software for c in ctx.software_codecs]
    hardware = [codec_of_encoder(e) for e in working]
    codecs = dict.fromkeys([*ctx.software_codecs, *(str(c) for c in hardware if c)])
    return WorkerInfo(
        hostname=ctx.hostname, gpu=ctx.gpu_tagged, encoders=[*working, *software],
        codecs=list(codecs), ffmpeg_version=ctx.ffmpeg_version,
        concurrency=ctx.settings.concurrency, queues=queues, pid=os.getpid(),
        hw_failures=ctx.hardware_failures, hardware=list(ctx.hardware_encoders),
    )


class Heartbeat(threading.Thread):
    """Advertise the worker every ``heartbeat_s`` and reap lapsed leases, in the main process."""

    def __init__(self, ctx: WorkerContext, queues: list[str]) -> None:
        super().__init__(name="ffcluster-heartbeat", daemon=True)
        self.ctx, self.queues = ctx, queues
        self.client = connect(ctx.settings.effective_redis_url)
        self.stopping = threading.Event()

    def beat(self) -> None:
        settings = self.ctx.settings
        registry.announce(self.client, worker_info(self.ctx, self.queues),
                          ttl_s=settings.heartbeat_s * 3)
        assert self.ctx.producer is not None
        store = JobStore(self.client)
        requeue_abandoned(self.ctx.producer, store)
        rescue_stranded_gpu_tasks(self.client)
        remove_expired_uploads(store, self.ctx.storage, settings)
        remove_expired_resumable_uploads(ResumableStore(self.client), self.ctx.storage)
        evict_finished_sources(store, self.ctx.storage)
        self.ctx.storage.clear_scratch()

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
