"""``GET /metrics``: Prometheus text built from Redis at scrape time, by a custom collector."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common import metrics, tasknames
from common.registry import list_workers
from common.states import JobState
from common.store import JobStore
from web.auth import require_token
from web.context import web_context

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

class ClusterCollector(Collector):
    """Read jobs, counters, queue depths and workers from Redis on every collect."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        yield self._jobs_by_state()
        yield from self._counters()
        yield self._queue_depth()
        yield self._workers_online()

    def _jobs_by_state(self) -> Metric:
        family = GaugeMetricFamily("ffcluster_jobs", "Jobs by state.", labels=["state"])
        counts = JobStore(self.client).state_counts()
        for state in JobState:
            family.add_metric([str(state)], counts.pop(str(state), 0))
        return family

    def _counters(self) -> Iterator[Metric]:
        values = metrics.read_all(self.client)
        specs = (
            (metrics.RENDITIONS_ENCODED, "ffcluster_renditions_encoded",
             "Renditions encoded, by codec."),
            (metrics.FALLBACKS, "ffcluster_encoder_fallbacks",
             "Encoders that failed and fell back, by failing codec."),
            (metrics.ENCODE_SECONDS, "ffcluster_encode_seconds",
             "Seconds spent encoding, by codec."),
        )
        for name, metric_name, help_text in specs:
            family = CounterMetricFamily(metric_name, help_text, labels=["codec"])
            for label, value in sorted(values.get(name, {}).items()):
                family.add_metric([label], value)
            yield family

    def _queue_depth(self) -> Metric:
        family = GaugeMetricFamily(
            "ffcluster_queue_depth", "Tasks waiting in each broker queue.", labels=["queue"]
        )
        for queue in tasknames.QUEUES:
            family.add_metric([queue], int(self.client.llen(queue)))
        return family

    def _workers_online(self) -> Metric:
        family = GaugeMetricFamily(
            "ffcluster_workers_online", "Workers with a live heartbeat, by tag.", labels=["tag"]
        )
        tags: Counter[str] = Counter({"gpu": 0, "cpu": 0})
        for worker in list_workers(self.client, include_offline=False):
            tags["gpu" if worker.gpu else "cpu"] += 1
        for tag, count in sorted(tags.items()):
            family.add_metric([tag], count)
        return family


def build_registry(client: redis.Redis) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(client))
    return registry


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus text; with an API token set, it needs it (Prometheus sends it as a bearer)."""
    ctx = web_context()
    require_token(ctx.settings.api_token)
    registry = build_registry(ctx.redis)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
