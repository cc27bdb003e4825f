"""``ffcluster up``: a whole single-machine cluster in the foreground, stopped by Ctrl-C."""

from __future__ import annotations

import argparse
import errno
import logging
import secrets
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

from cli.binaries import require
from cli.errors import CliError
from cli.processes import Child, Supervisor, child_env
from common.settings import Settings
from common.storage import open_storage

log = logging.getLogger(__name__)

REDIS_START_TIMEOUT_S = 20.0
HEALTH_PROBE_EVERY_S = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int, what: str, flag: str) -> None:
    """Fail with one sentence when ``host:port`` is taken, instead of a crash-looping child."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(f"Port {port} on {host} is already in use, so the {what} cannot "
                               f"start: stop what uses it or choose another with {flag}.") from None
            raise CliError(f"The {what} cannot listen on {host}:{port}: {exc.strerror}.") from None


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def write_redis_config(directory: Path, password: str) -> Path:
    """Write the private Redis's password to a file only this user can read (never argv)."""
    config = directory / "ffcluster-redis.conf"
    config.touch(mode=0o600, exist_ok=True)
    config.chmod(0o600)
    config.write_text(f"requirepass {password}\n")
    return config


def start_private_redis(supervisor: Supervisor, directory: Path, settings: Settings) -> str:
    """Start redis-server on a free loopback port with AOF under ``directory``; return its URL.

    It gets a fresh random password each start, so no other user or web page on this host
    can read or write the job records and queues.
    """
    directory.mkdir(parents=True, exist_ok=True)
    port, password = free_port(), secrets.token_urlsafe(24)
    binary = shutil.which("redis-server") or "redis-server"
    argv = [binary, str(write_redis_config(directory, password)), "--port", str(port),
            "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--dir", str(directory), "--appendonly", "yes", "--save", "",
            "--maxmemory-policy", "noeviction", "--daemonize", "no", "--loglevel", "warning"]
    child = supervisor.add(Child("redis", argv, child_env(settings), stop_last=True))
    client = redis.Redis(host="127.0.0.1", port=port, password=password,
                         socket_connect_timeout=1)

    def answers() -> bool:
        if not child.running():
            raise CliError(f"redis-server exited with code {child.process.returncode} "  # type: ignore[union-attr]
                           f"before answering; its data is in {directory}.")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    if not supervisor.wait_until(answers, REDIS_START_TIMEOUT_S) and not supervisor.stopping:
        raise CliError(f"redis-server did not answer PING within {REDIS_START_TIMEOUT_S:.0f} s.")
    log.info("private Redis at redis://127.0.0.1:%d/0 with a password (append-only file in %s)",
             port, directory)
    return f"redis://:{password}@127.0.0.1:{port}/0"


class ReadyAnnouncer:
    """Print the dashboard address once the web tier answers /api/health."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.announced = False
        self._next_probe = 0.0

    def tick(self) -> None:
        if self.announced or time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + HEALTH_PROBE_EVERY_S
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=0.5):
                pass
        except urllib.error.HTTPError:
            pass  # it answers: 503 only means Redis is not reachable from it yet
        except OSError:
            return
        self.announced = True
        print(f"ffcluster is up: dashboard at {self.url}/ (Ctrl-C stops everything)", flush=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


FLOWER_USER = "ffcluster"


def flower_credentials(args: argparse.Namespace, settings: Settings) -> tuple[str, bool]:
    """Return Flower's ``user:password`` and whether it was generated (then printed once)."""
    given = args.flower_basic_auth or settings.flower_basic_auth
    if given:
        return given, False
    return f"{FLOWER_USER}:{secrets.token_urlsafe(18)}", True


def _flower_child(args: argparse.Namespace, settings: Settings, credentials: str) -> Child:
    """Flower always has authentication; its secrets travel in its environment, not argv."""
    argv = [sys.executable, "-m", "celery", "-A", "cli.flower_app", "flower",
            f"--port={args.flower_port}", "--address=127.0.0.1"]
    return Child("flower", argv, child_env(settings, {"FLOWER_BASIC_AUTH": credentials}))


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_overrides(
        host=args.host, port=args.port, concurrency=args.concurrency, gpu=args.gpu,
        data_dir=args.data_dir,
    )
    settings = settings.with_overrides(data_dir=settings.data_dir.resolve())
    programs = [settings.ffmpeg_bin, settings.ffprobe_bin]
    require("up", (["redis-server"] if settings.redis_url is None else []) + programs)
    ensure_port_free(settings.host, settings.port, "web tier", "--port")
    if args.flower:
        ensure_port_free("127.0.0.1", args.flower_port, "Flower", "--flower-port")
        settings = settings.with_overrides(flower_url=f"http://127.0.0.1:{args.flower_port}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_storage(settings).check()

    supervisor = Supervisor(grace_s=args.grace)
    supervisor.install_signal_handlers()
    try:
        if settings.redis_url is None:
            url = start_private_redis(supervisor, settings.data_dir / "redis", settings)
            settings = settings.with_overrides(redis_url=url)
        if not supervisor.stopping:
            supervisor.add(Child("worker", _cli("worker"), child_env(settings)))
            supervisor.add(Child("web", _cli("web"), child_env(settings)))
            if args.flower:
                credentials, generated = flower_credentials(args, settings)
                supervisor.add(_flower_child(args, settings, credentials))
                log.info("Flower at %s", settings.flower_url)
                if generated:
                    user, _, password = credentials.partition(":")
                    print(f"Flower at {settings.flower_url}: user {user}, password {password} "
                          "(generated for this run; set FFCLUSTER_FLOWER_BASIC_AUTH to choose "
                          "one)", flush=True)
            base = f"http://{display_host(settings.host)}:{settings.port}"
            supervisor.run(ReadyAnnouncer(base).tick)
    finally:
        supervisor.shutdown()
    return 0
