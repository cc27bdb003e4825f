"""Split-and-stitch: one long source on one single-core worker, then on two, chunked or not.

Each worker is pinned to its own core (``sched_setaffinity`` on its whole process group,
FFmpeg included) and runs x264 with one thread, so "two workers" means twice the cores.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

from bench.client import ApiClient
from bench.cluster import LocalCluster, _spawn, get_json
from bench.encoding import cluster_ladder
from bench.media import SourceSpec, ensure_source
from bench.stats import ratio
from common import keys, metrics

CHUNK_SECONDS = 8
RUNG = {"name": "720p", "height": 720, "video_bitrate_kbps": 2800, "preset": "veryfast"}


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def _pin(pgid: int, core: int) -> None:
    """Pin a worker's whole process group (pool children too) to one core."""
    for pid in _group(pgid):
        try:
            os.sched_setaffinity(pid, {core})
        except (ProcessLookupError, PermissionError):
            continue


def _wait_workers(cluster: LocalCluster, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while get_json(f"{cluster.url()}/api/health").get("workers_online") != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not come online")
        time.sleep(0.2)


def _run(client: ApiClient, source: Path, chunked: bool, timeout_s: float) -> dict[str, Any]:
    fields = {"hls": "false", "chunk_seconds": str(CHUNK_SECONDS if chunked else 0)}
    result = cluster_ladder(client, source, timeout_s, fields)
    job = client.job(result["job_id"])
    result["chunks"] = max((r.get("chunks", 0) for r in job["renditions"]), default=0)
    cuts = job.get("chunk_cuts") or []
    result["keyframe_cuts"] = sum(1 for c in cuts[1:] if c == "keyframe")
    result["seek_cuts"] = sum(1 for c in cuts[1:] if c == "seek")
    posted_at = job["finished_at"] - result["wall_s"]
    done = [r["finished_at"] for r in job["renditions"] if r.get("finished_at")]
    result["first_rendition_s"] = round(min(done) - posted_at, 2) if done else None
    print(f"  split-and-stitch {'chunked' if chunked else 'whole'}: {result['wall_s']} s",
          file=sys.stderr, flush=True)
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower one of an even count), with every
    run's wall time beside it."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return {**ordered[(len(ordered) - 1) // 2], "walls_s": [r["wall_s"] for r in runs]}


def _alternated(client: ApiClient, source: Path, timeout_s: float,
                order: list[bool]) -> dict[str, dict[str, Any]]:
    """Run the source chunked (True) and whole (False) in ``order``; the median of each."""
    runs: dict[str, list[dict[str, Any]]] = {"whole": [], "chunked": []}
    for chunked in order:
        runs["chunked" if chunked else "whole"].append(_run(client, source, chunked, timeout_s))
    return {kind: _median_run(done) for kind, done in runs.items() if done}


def split_and_stitch(data_dir: Path, spec: SourceSpec, timeout_s: float,
                     rounds: int = 1) -> dict[str, Any]:
    """Return wall times and ratios of medians over ``rounds`` runs: chunked and unchunked
    on one worker (alternated), chunked on two, and unchunked on two once."""
    source = ensure_source(spec)
    ladder = data_dir / "ladder.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    ladder.write_text(json.dumps({"profiles": [RUNG]}))
    overrides = {"x264_threads": 1, "profiles_file": ladder}
    cluster = LocalCluster(data_dir, concurrency=1, async_modes=("threading",))
    second = None
    try:
        cluster.start()
        cluster.restart_worker(**overrides)
        assert cluster.worker is not None
        _pin(cluster.worker.pid, 0)
        client = ApiClient(cluster.url())
        one = _alternated(client, source, timeout_s, [False, True] * rounds)
        argv = [sys.executable, "-m", "cli.main", "worker", "--gpu", "off", "--concurrency", "1",
                "--name", "second"]
        second = _spawn("worker-2", argv, cluster._env(cluster.settings(**overrides)),
                        cluster.log_dir)
        _wait_workers(cluster, 2)
        _pin(second.pid, 1)
        conflicts = _watch_conflicts(cluster.redis_url, reset=True)
        two = _alternated(client, source, timeout_s, [True] * rounds)
        conflicts = _watch_conflicts(cluster.redis_url)
        two.update(_alternated(client, source, timeout_s, [False]))
    finally:
        if second is not None:
            second.stop()
        cluster.stop()
    return {
        "source": {"seconds": spec.seconds, "size": spec.size, "rung": RUNG["name"],
                   "chunk_seconds": CHUNK_SECONDS, "chunks": two["chunked"]["chunks"]},
        "rounds": rounds,
        "one_worker": one, "two_workers": two,
        "speedup_two_over_one": ratio(one["chunked"]["wall_s"], two["chunked"]["wall_s"]),
        "chunking_overhead_one_worker": ratio(one["chunked"]["wall_s"], one["whole"]["wall_s"]),
        "chunked_over_whole_two_workers": ratio(two["chunked"]["wall_s"],
                                                two["whole"]["wall_s"]),
        "watch_conflicts_chunked_two_workers": conflicts,
    }


def _watch_conflicts(redis_url: str, reset: bool = False) -> int:
    """Job-record transactions that had to run again (state changes; progress has none)."""
    client = redis.Redis.from_url(redis_url)
    if reset:
        client.hdel(keys.METRICS, metrics.counter_field(metrics.WATCH_CONFLICTS, "job"))
        return 0
    return int(metrics.read_all(client).get(metrics.WATCH_CONFLICTS, {}).get("job", 0))
