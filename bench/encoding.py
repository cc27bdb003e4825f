"""Ladder cost against hand-written FFmpeg, scheduling delay, throughput and worker memory."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.client import TIMED_POLL_S, ApiClient, first_start
from bench.cluster import LocalCluster
from bench.media import direct_ladder_argv, run_direct
from bench.procfs import ForeignCpu, rss_mb, worker_rss
from bench.stats import growth_pct, ratio, summarize

SETTLE_S = 1.0
QUIET_PCT = 10.0
"""Foreign CPU (% of the machine) under which a timed run counts as undisturbed."""


DEFAULT_JOB: dict[str, str] = {}
"""The job as a user posts it: three MP4s, their CMAF segments, HLS and DASH manifests."""
MP4_ONLY = {"hls": "false"}
"""Form fields that make a ladder job write exactly what the single FFmpeg writes: three MP4s."""


def cluster_ladder(client: ApiClient, source: Path, timeout_s: float,
                   fields: dict[str, str] | None = None) -> dict[str, Any]:
    """Submit ``source`` and return POST→done wall time and POST→first FFmpeg start."""
    job_id, posted_at = client.submit(source, fields)
    job = client.wait(job_id, timeout_s, poll_s=TIMED_POLL_S)
    if job["state"] != "done":
        raise RuntimeError(f"ladder job {job_id} ended {job['state']}: {job.get('error')}")
    start = first_start(job)
    encode = encode_phase(job)
    wall = job["finished_at"] - posted_at
    return {"job_id": job_id, "wall_s": round(wall, 3),
            "first_start_s": None if start is None else round(start - posted_at, 3),
            "encode_s": None if encode is None else round(encode, 3),
            "ffmpeg_s": encoding_ffmpeg_s(job),
            "outside_encode_s": None if encode is None else round(wall - encode, 3),
            "renditions": [r["profile"] for r in job["renditions"]]}


def encode_phase(job: dict[str, Any]) -> float | None:
    """First rendition start to last rendition done: the encoding FFmpeg and the check of
    its outputs; the rest of POST→done is the cluster's own steps around it."""
    starts = [r["started_at"] for r in job["renditions"] if r.get("started_at")]
    ends = [r["finished_at"] for r in job["renditions"] if r.get("finished_at")]
    return max(ends) - min(starts) if starts and ends else None


def encoding_ffmpeg_s(job: dict[str, Any]) -> float | None:
    """How long the job's encoding FFmpeg ran (its renditions' ``ffmpeg_s``; a fused
    ladder's share one), None when a rendition has none (stitched, or an older worker)."""
    ran = [r.get("ffmpeg_s") for r in job["renditions"]]
    return None if not ran or None in ran else max(ran)


def ladder_pairs(client: ApiClient, source: Path, pairs: int, timeout_s: float,
                 settle_s: float = SETTLE_S,
                 fields: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Alternate cluster jobs posted with ``fields`` (the default job unless given) and the
    single FFmpeg that makes the MP4s (ABBA order); return each pair and its ratio."""
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-direct-") as out_dir:
        argv = direct_ladder_argv(source, Path(out_dir))
        for index in range(pairs):
            order = ("cluster", "direct") if index % 2 == 0 else ("direct", "cluster")
            pair: dict[str, Any] = {"order": "-".join(order)}
            for side in order:
                time.sleep(settle_s)
                foreign = ForeignCpu().start()
                if side == "cluster":
                    pair["cluster"] = cluster_ladder(client, source, timeout_s,
                                                     DEFAULT_JOB if fields is None else fields)
                else:
                    pair["direct_s"] = round(run_direct(argv), 3)
                pair[f"{side}_foreign_cpu_pct"] = foreign.stop()
            pair["cluster_s"] = pair["cluster"]["wall_s"]
            pair["ratio"] = ratio(pair["cluster_s"], pair["direct_s"])
            pair["encode_ratio"] = ratio(pair["cluster"]["encode_s"], pair["direct_s"])
            pair["ffmpeg_ratio"] = ratio(pair["cluster"]["ffmpeg_s"], pair["direct_s"])
            results.append(pair)
    return results


def ladder_summary(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarize the pair ratios; ``quiet`` ones had < QUIET_PCT foreign CPU on both sides."""
    ratios = [p["ratio"] for p in pairs if p["ratio"] is not None]
    quiet = [p["ratio"] for p in pairs if p["ratio"] is not None
             and max(p["cluster_foreign_cpu_pct"], p["direct_foreign_cpu_pct"]) < QUIET_PCT]
    summary = summarize(ratios, unit="ratio", digits=3)
    summary["median_ratio"] = round(statistics.median(ratios), 3) if ratios else None
    summary["quiet_pairs"] = len(quiet)
    summary["median_ratio_quiet"] = round(statistics.median(quiet), 3) if quiet else None
    encodes = [p["encode_ratio"] for p in pairs if p.get("encode_ratio") is not None]
    outside = [p["cluster"]["outside_encode_s"] for p in pairs
               if p["cluster"].get("outside_encode_s") is not None]
    summary["median_encode_ratio"] = round(statistics.median(encodes), 3) if encodes else None
    ffmpegs = [p["ffmpeg_ratio"] for p in pairs if p.get("ffmpeg_ratio") is not None]
    summary["median_ffmpeg_ratio"] = round(statistics.median(ffmpegs), 3) if ffmpegs else None
    summary["median_outside_encode_s"] = (round(statistics.median(outside), 3) if outside
                                          else None)
    summary["outside_over_direct"] = ratio(summary["median_outside_encode_s"],
                                           statistics.median(p["direct_s"] for p in pairs))
    return summary


def sequential_starts(client: ApiClient, source: Path, count: int,
                      timeout_s: float) -> dict[str, Any]:
    """Submit one job at a time on an idle cluster: POST→first FFmpeg start and →done."""
    starts, turnarounds = [], []
    for _ in range(count):
        job_id, posted_at = client.submit(source)
        job = client.wait(job_id, timeout_s, poll_s=0.1)
        start = first_start(job)
        if start is not None:
            starts.append(start - posted_at)
        if job.get("finished_at"):
            turnarounds.append(job["finished_at"] - posted_at)
    return {"start_delay": summarize(starts, scale=1000.0),
            "turnaround": summarize(turnarounds, scale=1000.0)}


def burst(client: ApiClient, source: Path, count: int, timeout_s: float,
          on_poll: Callable[[], None] | None = None) -> dict[str, Any]:
    """Submit ``count`` jobs at once; wait for all; return wall time and per-job figures."""
    posted: dict[str, float] = {}
    for _ in range(count):
        job_id, posted_at = client.submit(source)
        posted[job_id] = posted_at
    pending, finished = set(posted), {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {count} jobs did not end in time")
        if on_poll is not None:
            on_poll()
        listed = {j["id"]: j for j in client.jobs(limit=200)}
        for job_id in list(pending):
            job = listed.get(job_id) or client.job(job_id)
            if job["state"] in ("done", "failed", "canceled"):
                finished[job_id] = job
                pending.discard(job_id)
        time.sleep(0.5)
    ends = [j["finished_at"] for j in finished.values() if j.get("finished_at")]
    wall = max(ends) - min(posted.values())
    return {"jobs": count, "failed": sum(1 for j in finished.values() if j["state"] != "done"),
            "wall_s": round(wall, 2),
            "queue_inclusive_start_delay": summarize(
                [s - posted[i] for i, j in finished.items() if (s := first_start(j))],
                scale=1000.0)}


def memory_snapshot(cluster: LocalCluster) -> dict[str, Any]:
    assert cluster.worker is not None
    return {"web_mb": rss_mb(cluster.webs["threading"].pid),
            "worker": worker_rss(cluster.worker.pid)}


def throughput_and_memory(cluster: LocalCluster, client: ApiClient, source: Path,
                          memory_jobs: int, total_jobs: int,
                          timeout_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``memory_jobs`` then the rest of ``total_jobs``; RSS idle, during and after."""
    idle = memory_snapshot(cluster)
    during: list[dict[str, Any]] = []
    first = burst(client, source, memory_jobs, timeout_s,
                  on_poll=lambda: during.append(memory_snapshot(cluster)))
    time.sleep(SETTLE_S)
    after = memory_snapshot(cluster)
    bursts = [first]
    if total_jobs > memory_jobs:
        bursts.append(burst(client, source, total_jobs - memory_jobs, timeout_s))
    wall = sum(b["wall_s"] for b in bursts)
    throughput = {"jobs": total_jobs, "wall_s": round(wall, 2),
                  "jobs_per_min": round(60.0 * total_jobs / wall, 1) if wall else None,
                  "failed": sum(b["failed"] for b in bursts),
                  "queue_inclusive_start_delay": bursts[-1]["queue_inclusive_start_delay"]}
    memory = {
        "jobs": memory_jobs, "idle": idle, "after": after,
        "web": {"idle_mb": idle["web_mb"], "after_mb": after["web_mb"],
                "growth_pct": growth_pct(idle["web_mb"], after["web_mb"]),
                "during": summarize([d["web_mb"] or 0.0 for d in during], unit="MiB", digits=1)},
        "worker_total": {
            "idle_mb": idle["worker"]["total_mb"], "after_mb": after["worker"]["total_mb"],
            "growth_pct": growth_pct(idle["worker"]["total_mb"], after["worker"]["total_mb"]),
            "during": summarize([d["worker"]["total_mb"] for d in during], unit="MiB",
                                digits=1)},
    }
    return throughput, memory
