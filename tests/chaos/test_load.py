"""200 Socket.IO clients on one web process while 20 jobs run through a real worker."""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support import load_clients
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import start_web_with
from tests.support.workers import start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(240)]

PROCESSES = 4
CLIENTS_PER_PROCESS = 50
JOBS = 20
HEALTH_P99_S = 0.25
"""A bound for a shared 2-core machine that also runs the 200 clients, the worker and FFmpeg.
Measured on 2026-12-01 after three changes (asyncio clients in their own sessions, Redis
pools sized to the web tier's threads, packaging and posters at FFmpeg's niceness): p99 65,
73, 78, 89 and 99 ms, median 5-6 ms, in five runs; before them p99 0.51-0.65 s, median
20-22 ms. Issue 15's target is 50 ms: not met yet on this machine."""


class ClientProcesses:
    """``PROCESSES`` children holding ``CLIENTS_PER_PROCESS`` clients each."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(PROCESSES):
            parent, child = context.Pipe()
            process = context.Process(target=load_clients.serve,
                                      args=(child, url, CLIENTS_PER_PROCESS), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, command: str, args: list[Any] | None = None, timeout: float = 60) -> list[Any]:
        for index, pipe in enumerate(self.pipes):
            if command != "connected":
                pipe.send((command, None if args is None else args[index]))
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"no answer to {command!r} within {timeout}s")
            kind, value = pipe.recv()
            assert kind != "error", value
            answers.append(value)
        return answers

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("close", None))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


class HealthProbe(threading.Thread):
    """GET /api/health back to back (20 per second) and keep every latency."""

    def __init__(self, url: str) -> None:
        super().__init__(name="health-probe", daemon=True)
        self.url = f"{url}/api/health"
        self.timings: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stopping.wait(0.05):
            started = time.perf_counter()
            try:
                ok = session.get(self.url, timeout=5).status_code == 200
            except requests.RequestException:
                ok = False
            self.timings.append(time.perf_counter() - started)
            self.failures += 0 if ok else 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def p99(self) -> float:
        return statistics.quantiles(self.timings, n=100)[98]


@pytest.fixture
def clients_factory() -> Iterator[list[ClientProcesses]]:
    made: list[ClientProcesses] = []
    yield made
    for group in made:
        group.close()


def test_two_hundred_clients_get_every_final_state_while_twenty_jobs_run(
    redis_server: RedisServer, tmp_path: Path, ladder_file: Path, media_dir: Path,
    clients_factory: list[ClientProcesses],
) -> None:
    redis_server.client().flushall()
    # FFmpeg at the shipped niceness (the other tests run it at 0 for speed): this test is
    # about the web tier's answers while workers encode, as operators run them.
    settings = cluster_settings(redis_server.url, tmp_path / "data", ladder_file, concurrency=2,
                                ffmpeg_nice=Settings().ffmpeg_nice)
    source = make_clip(media_dir / "load-160x120.mp4", seconds=1.0, size="160x120")
    web = start_web_with(settings, "threading")
    worker = None
    probe = HealthProbe(web.url)
    try:
        clients = ClientProcesses(web.url)
        clients_factory.append(clients)
        assert sum(clients.ask("connected")) == PROCESSES * CLIENTS_PER_PROCESS

        # Jobs wait on the queue until the worker starts, so every subscription answers
        # "queued" and every "done" a client sees later is a live event, not a snapshot.
        job_ids = []
        for index in range(JOBS):
            created = requests.post(f"{web.url}/api/jobs", timeout=30, data={"profiles": "144p"},
                                    files={"file": (f"load-{index}.mp4", source.read_bytes())})
            assert created.status_code == 202, created.text
            job_ids.append(str(created.json()["id"]))
        plan = [[job_ids[(p * CLIENTS_PER_PROCESS + i) % JOBS] for i in range(CLIENTS_PER_PROCESS)]
                for p in range(PROCESSES)]
        snapshots = [state for states in clients.ask("subscribe", plan) for state in states]
        assert set(snapshots) == {"queued"}, set(snapshots)

        probe.start()
        worker = start_worker(settings, tmp_path / "logs", "load")

        def jobs_ended() -> list[dict[str, Any]] | None:
            jobs = requests.get(f"{web.url}/api/jobs", params={"limit": JOBS}, timeout=10)
            listed = jobs.json()["jobs"]
            ended = [j for j in listed if j["state"] in ("done", "failed", "canceled")]
            return listed if len(ended) == JOBS else None

        jobs = wait_for(jobs_ended, timeout=120, interval=0.25, message="all 20 jobs to end")
        assert {j["state"] for j in jobs} == {"done"}, [(j["id"], j["error"]) for j in jobs]

        def everyone_has_done() -> bool:
            return all(got for report in clients.ask("report") for _, got, _, _ in report)

        with contextlib.suppress(TimeoutError):  # whoever still lacks it is counted below
            wait_for(everyone_has_done, timeout=15, interval=0.5, message="every client's done")
        probe.stop()
        reports = [row for report in clients.ask("report") for row in report]
        assert all(connected for _, _, _, connected in reports), "a client was dropped"
        resyncs = clients.ask("resync")
        needed = sum(count for count, _ in resyncs)
        assert all(state == "done" for _, states in resyncs for state in states)
        assert needed == 0, f"{needed} clients missed their job's done event and had to resync"
        assert len(reports) == PROCESSES * CLIENTS_PER_PROCESS
        assert {job for job, _, _, _ in reports} == set(job_ids)

        assert probe.failures == 0 and len(probe.timings) > 20
        assert probe.p99() < HEALTH_P99_S, (
            f"/api/health p99 {probe.p99() * 1000:.0f} ms, median "
            f"{statistics.median(probe.timings) * 1000:.0f} ms over {len(probe.timings)}")
        assert worker.alive()
    finally:
        if probe.is_alive():
            probe.stop()
        if worker is not None:
            worker.stop()
        web.stop()
