"""Start and stop a local cluster: a private redis-server, one worker, and web tiers per mode.

The children are started with ``python -m cli.main worker|web`` (what ``ffcluster up`` runs),
each in its own session so the whole group can be stopped, with settings passed as
``FFCLUSTER_*`` variables. Two web tiers (threading and eventlet) share one Redis and worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.up import free_port
from common.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0


@dataclass
class Child:
    """One child process in its own session, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the group, wait up to ``grace_s``, then SIGKILL whatever is left."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return Child(name, process, log_path)


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class LocalCluster:
    """A private Redis, one worker and one web tier per async mode, under ``data_dir``."""

    data_dir: Path
    concurrency: int
    async_modes: tuple[str, ...] = ("threading", "eventlet")
    redis: Child | None = None
    worker: Child | None = None
    webs: dict[str, Child] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    redis_url: str = ""
    worker_overrides: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    """Settings every process of this cluster gets (storage, say)."""

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def url(self, mode: str = "threading") -> str:
        return f"http://127.0.0.1:{self.ports[mode]}"

    def settings(self, **overrides: Any) -> Settings:
        return Settings.from_env({}, redis_url=self.redis_url, data_dir=self.data_dir,
                                 concurrency=self.concurrency, gpu="off", log_level="WARNING",
                                 **{**self.overrides, **overrides})

    def _env(self, settings: Settings) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith("FFCLUSTER_") and k != "MAX_CONCURRENT_JOBS"}
        return {**inherited, **settings.environment(), "PYTHONUNBUFFERED": "1"}

    def start(self) -> None:
        """Start Redis, the worker and every web tier; wait until each web sees the worker."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        binary = shutil.which("redis-server") or "redis-server"
        self.redis = _spawn("redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                                      "--dir", str(self.data_dir), "--save", "",
                                      "--appendonly", "no", "--loglevel", "warning"],
                            dict(os.environ), self.log_dir)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        for mode in self.async_modes:
            self.ports[mode] = free_port()
            argv = [sys.executable, "-m", "cli.main", "web", "--port", str(self.ports[mode]),
                    "--async-mode", mode]
            self.webs[mode] = _spawn(f"web-{mode}", argv, self._env(self.settings()),
                                     self.log_dir)
        self.restart_worker()

    def restart_worker(self, **overrides: Any) -> None:
        """(Re)start the worker with setting ``overrides`` and wait until it is the one online."""
        if self.worker is not None:
            self.worker.stop()
        self.worker_overrides = overrides
        argv = [sys.executable, "-m", "cli.main", "worker", "--gpu", "off",
                "--concurrency", str(self.concurrency)]
        self.worker = _spawn("worker", argv, self._env(self.settings(**overrides)), self.log_dir)
        self.wait_ready()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until every web tier answers health with exactly one worker online."""
        deadline = time.monotonic() + timeout_s
        for mode in self.async_modes:
            while True:
                self._check_alive()
                with contextlib.suppress(OSError, ValueError):
                    if get_json(f"{self.url(mode)}/api/health", 2).get("workers_online") == 1:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {mode} web tier did not see one worker online in "
                                       f"{timeout_s:.0f} s:\n{self._tails()}")
                time.sleep(0.2)

    def _check_alive(self) -> None:
        for child in [self.redis, self.worker, *self.webs.values()]:
            if child is not None and not child.alive():
                raise RuntimeError(f"{child.name} exited early with code "
                                   f"{child.process.returncode}:\n{child.log_tail()}")

    def _tails(self) -> str:
        children = [c for c in [self.worker, *self.webs.values()] if c is not None]
        return "\n".join(f"--- {c.name}\n{c.log_tail()}" for c in children)

    def stop(self) -> None:
        """Stop every child: web tiers and worker first, Redis last."""
        for child in [*self.webs.values(), self.worker]:
            if child is not None:
                child.stop()
        if self.redis is not None:
            self.redis.stop(grace_s=5)
