"""Real web-tier processes for tests: start one on a free port, wait for /api/health."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from common.settings import Settings
from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WebProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


def start_web(
    redis_url: str, data_dir: Path, async_mode: str, extra_env: dict[str, str] | None = None
) -> WebProcess:
    """Start ``ffcluster web`` on ``redis_url`` and ``data_dir``; see :func:`start_web_with`."""
    settings = Settings.from_env({}, redis_url=redis_url, data_dir=data_dir)
    return start_web_with(settings, async_mode, extra_env)


def start_web_with(
    settings: Settings, async_mode: str, extra_env: dict[str, str] | None = None,
    port: int | None = None, argv_prefix: list[str] | None = None, host: str = "127.0.0.1",
    log_dir: Path | None = None,
) -> WebProcess:
    """Start ``ffcluster web`` (``python -m cli.main web``) on ``host`` (a namespace's address
    with the ``argv_prefix`` that enters it); return once /api/health answers. Its log goes
    to ``log_dir`` (default: the data dir)."""
    port = port or free_port()
    data_dir = settings.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFCLUSTER_")}
    env.update(settings.environment())
    env.update({
        "FFCLUSTER_ASYNC_MODE": async_mode,
        "FFCLUSTER_HOST": host,
        "FFCLUSTER_PORT": str(port),
        "FFCLUSTER_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    })
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = (log_dir or data_dir) / f"web-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*(argv_prefix or []), sys.executable, "-m", "cli.main", "web"], cwd=ROOT, env=env,
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    web = WebProcess(f"http://{host}:{port}", process, log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"web process exited with {process.returncode}:\n{web.log()}")
        return requests.get(f"{web.url}/api/health", timeout=1).status_code == 200

    try:
        wait_for(healthy, timeout=30, interval=0.1, message=f"web ({async_mode}) health")
    except Exception:
        web.stop()
        raise
    return web
