"""One benchmark run, phase by phase, on one local cluster: returns the report and plot data."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench.autogroup import AutogroupRenicer, autogroup_enabled
from bench.chunking import split_and_stitch
from bench.client import ApiClient
from bench.clients import many_clients
from bench.cluster import LocalCluster
from bench.codecs import codec_rungs
from bench.config import BenchConfig
from bench.encoding import (
    MP4_ONLY,
    ladder_pairs,
    ladder_summary,
    memory_snapshot,
    sequential_starts,
    throughput_and_memory,
)
from bench.media import ensure_source
from bench.per_title import compare as compare_ladders
from bench.procfs import ForeignCpu, machine_info
from bench.progress_writes import progress_writes
from bench.responsiveness import Series, measure
from bench.stats import ratio, summarize
from bench.storage import object_storage
from bench.watcher import Watcher, WatchResult

T = TypeVar("T")
MODES = ("threading", "eventlet")
NOTES = [
    "Socket.IO round trip: client `call` of the `ping` event (acknowledged at once, no Redis).",
    "Progress latency: client receipt minus the envelope `ts`, which the worker stamps when it "
    "reads FFmpeg's progress block (so the record write, the 4 Hz throttle and Redis pub/sub "
    "are all inside the figure).",
    "Split-and-stitch: one 720p veryfast rung, x264 one thread, each worker pinned to its own "
    "core; chunked jobs use 8 s slices.",
    "HTTP loaders are paced closed loops, a fresh TCP connection per request; Socket.IO "
    "loaders keep one WebSocket. Loaders run in their own processes.",
    "Single FFmpeg: the cluster's own build_ladder_command (libx264, same settings) without "
    "the progress pipe, run at niceness 0; cluster and direct runs alternate (ABBA).",
    "Memory: VmRSS; worker_total is the Celery main process plus each pool child; idle is "
    "taken on a warm worker (after the ladder and sequential jobs).",
]


class Timeline:
    """Print each phase as it starts and keep how long each took."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.phases: dict[str, dict[str, float]] = {}

    def phase(self, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` as phase ``name``: log it, time it, note the load average before it."""
        load = round(os.getloadavg()[0], 2)
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {name} (load {load})",
              file=sys.stderr, flush=True)
        began, foreign = time.monotonic(), ForeignCpu().start()
        result = fn()
        self.phases[name] = {"s": round(time.monotonic() - began, 1), "loadavg_1m_before": load,
                             "foreign_cpu_pct": foreign.stop()}
        return result


def run_bench(config: BenchConfig) -> tuple[dict[str, Any], list[Series]]:
    """Run every benchmark and return (the JSON report, latency series for the plot)."""
    t = Timeline()
    report: dict[str, Any] = {"meta": {"quick": config.quick, "machine": machine_info(),
                                       "started_at": time.time(), "notes": NOTES}}
    source = t.phase("generate sources", lambda: ensure_source(config.source))
    tiny = ensure_source(config.tiny)
    concurrency = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ffcluster-bench-") as data_dir:
        cluster = LocalCluster(Path(data_dir), concurrency=concurrency, async_modes=MODES)
        try:
            t.phase("start cluster", cluster.start)
            report["meta"]["cold_memory"] = memory_snapshot(cluster)
            report["progress_writes"] = t.phase("progress writes", lambda: progress_writes(
                cluster.redis_url))
            watcher = Watcher(cluster.url("threading")).start()
            series = _phases(config, cluster, source, tiny, report, t)
            watch = watcher.stop()
        finally:
            t.phase("stop cluster", cluster.stop)
    _progress(report, watch)
    with tempfile.TemporaryDirectory(prefix="ffcluster-bench-chunks-") as data_dir:
        report["split_and_stitch"] = t.phase("split-and-stitch", lambda: split_and_stitch(
            Path(data_dir), config.long_source, config.job_timeout_s, config.chunk_rounds))
    with tempfile.TemporaryDirectory(prefix="ffcluster-bench-codecs-") as out_dir:
        report["codecs"] = t.phase("codecs at 1080p", lambda: codec_rungs(
            ensure_source(config.codec_source), Path(out_dir), config.job_timeout_s))
    report["object_storage"] = t.phase("object storage", lambda: object_storage(
        ensure_source(config.storage_source), config.storage_pairs, config.transfer_mb,
        config.job_timeout_s))
    report["meta"].update(phases_s=t.phases, duration_s=round(time.monotonic() - t.started, 1),
                          worker_concurrency=concurrency,
                          loadavg_end=[round(x, 2) for x in os.getloadavg()])
    return report, series


def _phases(config: BenchConfig, cluster: LocalCluster, source: Path, tiny: Path,
            report: dict[str, Any], t: Timeline) -> list[Series]:
    timeout = config.job_timeout_s
    responsiveness: dict[str, dict[str, Any]] = {mode: {} for mode in MODES}
    series = []
    for state in ("idle", "loaded"):
        for mode in MODES:
            load = source if state == "loaded" else None
            summary, serie = t.phase(f"responsiveness {mode} {state}", lambda m=mode, s=load: (
                measure(cluster.url(m), config.plan, s, timeout)))
            responsiveness[mode][state] = summary
            if state == "loaded":
                serie.label = mode
                series.append(serie)
    report["responsiveness"] = responsiveness
    report["many_clients"] = t.phase(f"{config.clients} clients", lambda: many_clients(
        {mode: cluster.url(mode) for mode in MODES}, tiny, config.clients, config.client_jobs,
        timeout))
    client = ApiClient(cluster.url("threading"))
    pairs = t.phase("ladder pairs", lambda: ladder_pairs(
        client, source, config.pairs, timeout, config.settle_s))
    report["ladder"] = {"pairs": pairs, "ratio": ladder_summary(pairs)}
    [mp4_only] = t.phase("MP4-only pair", lambda: ladder_pairs(
        client, source, 1, timeout, config.settle_s, MP4_ONLY))
    report["ladder"]["mp4_only_pair"] = mp4_only
    report["per_title"] = t.phase("per-title ladders", lambda: compare_ladders(
        client, {"moving": source, "easy": ensure_source(config.easy_source)}, timeout))
    report["scheduling"] = t.phase("sequential jobs", lambda: sequential_starts(
        client, tiny, config.sequential_jobs, timeout))
    throughput, memory = t.phase("throughput and memory", lambda: throughput_and_memory(
        cluster, client, tiny, config.memory_jobs, config.throughput_jobs, timeout * 2))
    report["scheduling"]["throughput"] = throughput
    report["memory"] = memory
    nice: dict[str, Any] = {}
    nice["nice_10"], _ = t.phase("niceness 10", lambda: measure(
        cluster.url("threading"), config.nice_plan, source, timeout))
    assert cluster.worker is not None
    with AutogroupRenicer(cluster.worker.pid) as renicer:
        nice["nice_10_autogroup"], _ = t.phase("niceness 10 + autogroup", lambda: measure(
            cluster.url("threading"), config.nice_plan, source, timeout))
    nice["nice_10_autogroup"]["ffmpeg_reniced"] = len(renicer.reniced)
    nice["autogroup_enabled"] = autogroup_enabled()
    t.phase("restart worker nice 0", lambda: cluster.restart_worker(ffmpeg_nice=0))
    nice["nice_0"], _ = t.phase("niceness 0", lambda: measure(
        cluster.url("threading"), config.nice_plan, source, timeout))
    nice["p99_ratio_nice0_over_nice10"] = ratio(nice["nice_0"]["health"]["p99"],
                                                nice["nice_10"]["health"]["p99"])
    report["niceness"] = nice
    t.phase("restart worker unfused", lambda: cluster.restart_worker(fuse_renditions=False))
    unfused = t.phase("unfused pair", lambda: ladder_pairs(
        client, source, 1, timeout, config.settle_s))
    report["ladder"]["unfused_pair"] = unfused[0]
    fused_median = report["ladder"]["ratio"]["median_ratio"]
    report["ladder"]["unfused_over_fused_ratio"] = ratio(unfused[0]["ratio"], fused_median)
    return series


def _progress(report: dict[str, Any], watch: WatchResult) -> None:
    ladder_jobs = {p["cluster"]["job_id"] for p in report["ladder"]["pairs"]}
    latencies = [latency for job_id, _t, latency in watch.progress if job_id in ladder_jobs]
    report["progress_latency"] = summarize(latencies, scale=1000.0)
    report["progress_latency"]["all_jobs"] = summarize(
        [latency for _j, _t, latency in watch.progress], scale=1000.0)
    runs = [run for mode in report["responsiveness"].values() for run in mode.values()]
    runs += [report["niceness"][key] for key in ("nice_10", "nice_10_autogroup", "nice_0")]
    load_disconnects = sum(run["disconnects"] for run in runs)
    report["heartbeats"] = {"watcher_disconnects": watch.disconnects,
                            "watcher_connected_s": watch.connected_s,
                            "load_client_disconnects": load_disconnects,
                            "missed": watch.disconnects + load_disconnects}
