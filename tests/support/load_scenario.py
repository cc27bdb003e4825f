"""The 200-client scenario's parts, shared by tests/chaos/test_load.py and bench/clients.py:
client processes driven over pipes, and a ``/api/health`` probe that keeps every latency."""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import requests

from tests.support import load_clients

PROCESSES = 4
CLIENTS_PER_PROCESS = 50


class ClientReport(NamedTuple):
    job_id: str
    got_done: bool
    """The client saw its own job's ``done``."""
    events: int
    connected: bool
    jobs_ended: int
    """Jobs whose last state this client saw was final (done, failed or canceled)."""


class ClientProcesses:
    """``processes`` children holding ``per_process`` Socket.IO clients each."""

    def __init__(self, url: str, processes: int = PROCESSES,
                 per_process: int = CLIENTS_PER_PROCESS) -> None:
        context = multiprocessing.get_context("spawn")
        self.per_process = per_process
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=load_clients.serve,
                                      args=(child, url, per_process), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def count(self) -> int:
        return len(self.pipes) * self.per_process

    def ask(self, command: str, args: list[Any] | None = None, timeout: float = 60) -> list[Any]:
        """Send ``command`` (with one arg per process) and return each process's answer."""
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

    def subscribe_round_robin(self, job_ids: list[str]) -> list[str]:
        """Subscribe client i of the whole set to job i mod len(job_ids); return the states
        the subscriptions' snapshots showed."""
        plan = [[job_ids[(p * self.per_process + i) % len(job_ids)]
                 for i in range(self.per_process)] for p in range(len(self.pipes))]
        return [state for states in self.ask("subscribe", plan) for state in states]

    def reports(self) -> list[ClientReport]:
        return [ClientReport(*row) for report in self.ask("report") for row in report]

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

    def __init__(self, url: str, interval_s: float = 0.05) -> None:
        super().__init__(name="health-probe", daemon=True)
        self.url = f"{url}/api/health"
        self.interval_s = interval_s
        self.timings: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stopping.wait(self.interval_s):
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
