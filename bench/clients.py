"""Many live dashboards while jobs run: issue 15's 200 Socket.IO clients and 20 jobs, per
async mode, on the bench cluster (one worker, the web tiers of both modes)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from bench.client import TERMINAL, ApiClient
from bench.stats import summarize
from tests.support.load_scenario import ClientProcesses, HealthProbe

PROCESSES = 4
FINAL_STATE_WAIT_S = 15.0


def many_clients(urls: dict[str, str], source: Path, clients: int, jobs: int,
                 timeout_s: float) -> dict[str, Any]:
    """Run the scenario once per web tier (``{mode: url}``); return each one's figures."""
    return {mode: one_tier(url, source, clients, jobs, timeout_s) for mode, url in urls.items()}


def one_tier(url: str, source: Path, clients: int, jobs: int, timeout_s: float) -> dict[str, Any]:
    """Connect the clients, submit the jobs, subscribe every client at once (timed: a
    reconnect storm), then time ``/api/health`` until every job has ended and every client
    has its job's final state."""
    api = ApiClient(url)
    group = ClientProcesses(url, processes=PROCESSES, per_process=max(1, clients // PROCESSES))
    probe = HealthProbe(url)
    started = time.monotonic()
    try:
        connected = sum(group.ask("connected"))
        job_ids = [api.submit(source)[0] for _ in range(jobs)]
        subscribing = time.monotonic()
        group.subscribe_round_robin(job_ids)
        subscribed_s = time.monotonic() - subscribing
        probe.start()
        states = _wait_jobs(api, job_ids, timeout_s)
        deadline = time.monotonic() + FINAL_STATE_WAIT_S
        while (not all(r.jobs_ended == jobs for r in group.reports())
               and time.monotonic() < deadline):
            time.sleep(0.5)
        probe.stop()
        reports = group.reports()
        resynced = sum(count for count, _ in group.ask("resync"))
    finally:
        if probe.is_alive():
            probe.stop()
        group.close()
    return {
        "clients": connected, "jobs": jobs, "wall_s": round(time.monotonic() - started, 1),
        "all_subscribed_s": round(subscribed_s, 2),
        "jobs_done": sum(state == "done" for state in states.values()),
        "health": summarize(probe.timings, scale=1000.0), "health_failures": probe.failures,
        "clients_dropped": sum(not r.connected for r in reports),
        "clients_without_final_state": resynced,
        "clients_without_every_final_state": sum(r.jobs_ended < jobs for r in reports),
        "events_per_client": summarize([r.events for r in reports], unit="events"),
    }


def _wait_jobs(api: ApiClient, job_ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        for job_id in job_ids:
            if states.get(job_id) not in TERMINAL:
                with contextlib.suppress(OSError, ValueError):
                    states[job_id] = str(api.job(job_id)["state"])
        if all(states.get(job_id) in TERMINAL for job_id in job_ids):
            return states
        time.sleep(0.5)
    raise TimeoutError(f"{len(job_ids)} jobs did not all end within {timeout_s:.0f} s")
