"""Supervise child processes: start each in its own session, restart with backoff, stop all."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType

from cli import proctree
from common.settings import Settings

log = logging.getLogger(__name__)

TICK_S = 0.2
STRAY_SWEEP_S = 2.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
"""A child that ran this long before dying is restarted after the shortest delay again."""


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the inherited environment with every ``FFCLUSTER_*`` variable taken from settings."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("FFCLUSTER_") and k != "MAX_CONCURRENT_JOBS"}
    return {**inherited, **settings.environment(), "PYTHONUNBUFFERED": "1", **(extra or {})}


@dataclass
class Child:
    """One supervised program; ``stop_last`` children (Redis) outlive the others at shutdown."""

    name: str
    argv: list[str]
    env: dict[str, str]
    stop_last: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def backoff_s(self) -> float:
        return min(BACKOFF_MAX_S, 2.0 ** max(self.quick_failures - 1, 0))

    def on_exit(self, code: int) -> None:
        """Record an unexpected exit, clean up its process group and schedule a restart."""
        assert self.process is not None
        proctree.kill_group(self.process.pid)
        self.exits.append(code)
        uptime = time.monotonic() - self.started_at
        self.quick_failures = 1 if uptime >= STABLE_AFTER_S else self.quick_failures + 1
        delay = self.backoff_s()
        self.restart_at = time.monotonic() + delay
        log.warning("%s exited with code %s; restarting in %.0f s", self.name, code, delay)


class Supervisor:
    """Run children until SIGINT or SIGTERM, then stop every one and leave nothing behind."""

    def __init__(self, grace_s: float = 10.0) -> None:
        self.grace_s = grace_s
        self.children: list[Child] = []
        self.stopping = False
        self.forced = False
        self._last_sweep = 0.0

    def install_signal_handlers(self) -> None:
        proctree.become_subreaper()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.forced = True
            log.warning("second %s: killing every child now", signal.Signals(signum).name)
        else:
            log.info("%s received: stopping the cluster", signal.Signals(signum).name)
        self.stopping = True

    def add(self, child: Child) -> Child:
        self.children.append(child)
        child.start()
        return child

    def owned_pids(self) -> set[int]:
        return {c.process.pid for c in self.children if c.process is not None}

    def check(self) -> None:
        """Notice exits, restart children whose backoff ran out, kill adopted orphans."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child)
            elif child.process is not None and (code := child.process.poll()) is not None:
                child.on_exit(code)
        if now - self._last_sweep >= STRAY_SWEEP_S:
            self._last_sweep = now
            for pid in proctree.kill_strays(self.owned_pids()):
                log.warning("killed stray process %d left by a child that died", pid)

    def _restart(self, child: Child) -> None:
        try:
            child.start()
        except OSError as exc:
            child.quick_failures += 1
            child.restart_at = time.monotonic() + child.backoff_s()
            log.error("cannot start %s: %s; trying again in %.0f s",
                      child.name, exc, child.backoff_s())

    def run(self, on_tick: Callable[[], None] | None = None) -> None:
        while not self.stopping:
            self.check()
            if on_tick is not None and not self.stopping:
                on_tick()
            time.sleep(TICK_S)

    def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``condition`` until true, ``timeout_s`` passes, or a stop is requested."""
        deadline = time.monotonic() + timeout_s
        while not self.stopping:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return False

    def _stop_group(self, children: list[Child]) -> None:
        running = [c for c in children if c.running()]
        for child in running:
            assert child.process is not None
            log.info("stopping %s (pid %d)", child.name, child.process.pid)
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while any(c.running() for c in running) and time.monotonic() < deadline:
            if self.forced:
                break
            time.sleep(0.1)
        for child in children:
            if child.process is None:
                continue
            if child.running():
                log.warning("%s did not stop within %.0f s: killing it", child.name, self.grace_s)
            proctree.kill_group(child.process.pid)
            child.process.wait()

    def shutdown(self) -> None:
        """Stop workers, web and Flower, then Redis; kill their groups and any descendant left."""
        self.stopping = True
        before = proctree.descendants(os.getpid())
        for child in self.children:
            child.restart_at = None
        self._stop_group([c for c in self.children if not c.stop_last])
        self._stop_group([c for c in self.children if c.stop_last])
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            left = proctree.descendants(os.getpid()) + [p for p in before if proctree.is_alive(p)]
            if not left:
                break
            proctree.kill_strays(set())
            for proc in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.05)
        if left:
            log.error("processes still running after shutdown: %s", [p.pid for p in left])
        else:
            log.info("every child stopped")
