"""``ffcluster status``: workers, queue depths and unfinished jobs, as the web tier sees them."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from cli.client import ApiClient, default_url
from common.settings import Settings
from common.states import JOB_TERMINAL
from common.tasknames import QUEUES

JOBS_PAGE = 100


def queue_depths(metrics_text: str) -> dict[str, int]:
    """Read ``ffcluster_queue_depth{queue=...}`` from Prometheus text."""
    depths = dict.fromkeys(QUEUES, 0)
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "ffcluster_queue_depth":
            for sample in family.samples:
                depths[sample.labels["queue"]] = int(sample.value)
    return depths


def collect(client: ApiClient) -> dict[str, Any]:
    workers = client.get_json("/api/workers")["workers"]
    jobs = client.get_json("/api/jobs", params={"limit": JOBS_PAGE})["jobs"]
    health = client.request("GET", "/api/health").json()
    return {
        "workers": workers,
        "queues": queue_depths(client.request("GET", "/metrics").text),
        "jobs": [job for job in jobs if job["state"] not in JOB_TERMINAL],
        "warnings": [health["redis_warning"]] if health.get("redis_warning") else [],
    }


def _ago(timestamp: float | None) -> str:
    return "" if not timestamp else f"{max(0.0, time.time() - timestamp):.0f} s ago"


def workers_table(workers: list[dict[str, Any]]) -> Table:
    table = Table(title="Workers")
    for column in ("worker", "tag", "state", "encoders", "concurrency", "tasks", "last seen"):
        table.add_column(column)
    for w in workers:
        table.add_row(w["hostname"], "GPU" if w.get("gpu") else "CPU",
                      "online" if w.get("online") else "offline", ", ".join(w.get("encoders", [])),
                      str(w.get("concurrency", "")), ", ".join(w.get("tasks", [])) or "-",
                      _ago(w.get("last_seen")))
    return table


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(title="Unfinished jobs")
    for column in ("job", "source", "state", "percent", "renditions"):
        table.add_column(column)
    for job in jobs:
        renditions = ", ".join(
            f"{r['profile']} {r['state']} {r.get('percent', 0):.0f}%"
            + (f" on {r['worker']}" if r.get("worker") else "")
            for r in job.get("renditions", [])
        )
        table.add_row(job["id"], job["source_name"], job["state"],
                      f"{job.get('percent', 0):.1f}%", renditions or "-")
    return table


def run(args: argparse.Namespace, settings: Settings) -> int:
    client = ApiClient(args.url or default_url(settings), args.token or settings.api_token)
    status = collect(client)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console = Console(highlight=False)
    console.print(workers_table(status["workers"]))
    console.print("Queues: " + ", ".join(f"{q} {n}" for q, n in status["queues"].items()))
    console.print(jobs_table(status["jobs"]))
    for warning in status["warnings"]:
        console.print(f"[bold red]Warning:[/] {warning}")
    return 0
