"""Web tier latency (health, Socket.IO round trip, dashboard page) idle and while encoding."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import ApiClient
from bench.load import LoadPlan, LoadResult, Sample, run_load
from bench.stats import summarize


@dataclass
class Series:
    """Latency over time of one loaded run, for the plot (not stored in the JSON)."""

    label: str
    started_at: float
    health: list[Sample] = field(default_factory=list)
    socketio: list[Sample] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)


def _latency(samples: list[Sample]) -> dict[str, Any]:
    summary = summarize([latency for _sent, latency, ok in samples if ok], scale=1000.0)
    summary["errors"] = sum(1 for _sent, _latency, ok in samples if not ok)
    return summary


def summarize_load(result: LoadResult) -> dict[str, Any]:
    """Return p50/p99/max per request kind, disconnects, CPU busy % and the window length."""
    cpu = [pct for _t, pct in result.cpu]
    out: dict[str, Any] = {
        "health": _latency(result.health),
        "socketio": _latency(result.socketio),
        "disconnects": result.disconnects,
        "cpu_busy_pct": round(statistics.fmean(cpu), 1) if cpu else None,
        "window_s": round(result.ended_at - result.started_at, 1),
    }
    if result.pages:
        out["page"] = _latency(result.pages)
    return out


def measure(base_url: str, plan: LoadPlan, load_source: Path | None,
            timeout_s: float) -> tuple[dict[str, Any], Series]:
    """Run ``plan`` against ``base_url``; with ``load_source``, while the cluster encodes it.

    The encode is submitted once the loaders are ready, the load starts when its first
    FFmpeg runs, and the job is canceled when the load is over.
    """
    client = ApiClient(base_url)
    job_id: str | None = None

    def start_encoding() -> None:
        nonlocal job_id
        if load_source is not None:
            job_id, _posted = client.submit(load_source)
            client.wait_encoding(job_id, timeout_s)

    result = run_load(base_url, plan, before_go=start_encoding)
    summary = summarize_load(result)
    if job_id is not None:
        state = client.job(job_id)["state"]
        summary["encoding_throughout"] = state == "encoding"
        if state not in ("done", "failed", "canceled"):
            client.cancel(job_id)
        client.wait(job_id, timeout_s)
    series = Series("", result.started_at, result.health, result.socketio, result.cpu)
    return summary, series
