"""Real `celery worker` processes started the way operators start them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import registry
from common.redis_client import connect
from common.settings import Settings
from tests.support.ports import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """A worker subprocess in its own process group; its log is kept for failure messages."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    settings: Settings
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """Warm-stop the worker (SIGTERM), then kill its whole group if it lingers."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        kill_group(self.process.pid)
        self.process.wait()


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def start_worker(settings: Settings, log_dir: Path, name: str, *,
                 wait_online: bool = True, timeout: float = 60,
                 argv_prefix: list[str] | None = None) -> WorkerProcess:
    """Start `python -m workers.runtime.main` with ``settings`` and wait until it heartbeats.

    ``argv_prefix`` runs it under another program (``unshare``, for a private mount).
    """
    settings = settings.with_overrides(worker_name=name)
    env = {**os.environ, **settings.environment(), "PYTHONUNBUFFERED": "1"}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*(argv_prefix or []), sys.executable, "-m", "workers.runtime.main"],
            cwd=REPO_ROOT, env=env,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    worker = WorkerProcess(name, process, log_path, settings)
    if wait_online:
        client = connect(settings.effective_redis_url)

        def online() -> bool:
            if not worker.alive():
                raise AssertionError(f"worker {name} exited:\n{worker.log()[-3000:]}")
            return any(w.hostname.startswith(f"{name}@") and w.online
                       for w in registry.list_workers(client))

        wait_for(online, timeout=timeout, interval=0.1, message=f"worker {name} online")
    return worker


def child_pids(pid: int) -> list[int]:
    """Return the pids of every descendant of ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def process_name(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def ffmpeg_children() -> list[int]:
    """The FFmpegs this test process started that are still there."""
    return [pid for pid in child_pids(os.getpid()) if process_name(pid) == "ffmpeg"]


def pid_exists(pid: int) -> bool:
    """True while ``pid`` is a live process (zombies count as gone)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def check_codec_choice(rendition: Any, worker: WorkerProcess) -> None:
    """What holds on any machine for a rendition routed to ``gpu``: its codec is one the
    worker advertises, and each hardware encoder that failed first is recorded with
    FFmpeg's own line (on a machine without a GPU, NVENC fails and libx264 encodes)."""
    client = connect(worker.settings.effective_redis_url)
    [info] = [w for w in registry.list_workers(client) if w.hostname.startswith(f"{worker.name}@")]
    codec = rendition["codec"] if isinstance(rendition, dict) else rendition.codec
    fallbacks = rendition["fallbacks"] if isinstance(rendition, dict) else [
        {"codec": f.codec, "error": f.error} for f in rendition.fallbacks]
    assert codec in info.encoders, (codec, info.encoders)
    for fallback in fallbacks:
        assert fallback["codec"] != codec and fallback["error"].strip(), fallback
        assert fallback["codec"] in info.hw_failures or fallback["codec"].startswith("h264_")
    if codec == "libx264" and info.gpu:  # tagged `on` with no working hardware encoder
        assert any(f["codec"].startswith("h264_") for f in fallbacks), fallbacks


class RecordingProducer:
    """Stands in for the Celery producer (of the web tier, or of a step run in the test's
    process): records what would have been sent (name, args, queue) instead of sending it;
    with ``fail`` set it refuses, as a broker that is down does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str | None]] = []
        self.fail = False

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        assert set(options) <= {"queue"}, f"{name} sent with options not recorded: {options}"
        self.sent.append((name, list(args or []), options.get("queue")))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.sent]
