"""A real redis-server on a free port, for one test session or one test."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(directory: Path, appendonly: bool = False, port: int | None = None,
                host: str = "127.0.0.1", argv_prefix: list[str] | None = None) -> RedisServer:
    """Start redis-server bound to ``host`` (loopback; a namespace's address with the
    ``argv_prefix`` that enters it) and wait until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: run `make setup`.")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [*(argv_prefix or []), binary, "--port", str(port), "--bind", host,
            "--protected-mode", "no", "--dir", str(directory),
            "--save", "", "--appendonly", "yes" if appendonly else "no", "--loglevel", "warning"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, process, directory, host)
    wait_for(lambda: server.client().ping(), timeout=10, message="redis-server PING")
    return server
