"""What /proc says: resident memory per process, CPU busy time, and the machine itself."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cli.proctree import descendants


def rss_mb(pid: int) -> float | None:
    """Return VmRSS of ``pid`` in MiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pool_children(pid: int) -> list[int]:
    """Return the direct children of ``pid`` that are Python (Celery's pool), not FFmpeg."""
    return sorted(p.pid for p in descendants(pid)
                  if p.ppid == pid and comm(p.pid) not in ("ffmpeg", "ffprobe"))


def worker_rss(pid: int) -> dict[str, Any]:
    """Return the worker's main RSS, each pool child's, and their sum (MiB)."""
    main = rss_mb(pid) or 0.0
    children = {str(child): rss_mb(child) or 0.0 for child in pool_children(pid)}
    return {"main_mb": main, "children_mb": children,
            "total_mb": round(main + sum(children.values()), 1)}


def cpu_times() -> tuple[float, float]:
    """Return (busy, total) jiffies over all CPUs from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


class CpuSampler:
    """Take (time, busy %) samples of the whole machine between calls to :meth:`sample`."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._last = cpu_times()

    def sample(self) -> None:
        busy, total = cpu_times()
        d_busy, d_total = busy - self._last[0], total - self._last[1]
        self._last = (busy, total)
        if d_total > 0:
            self.samples.append((time.time(), round(100.0 * d_busy / d_total, 1)))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: set[int]) -> dict[int, float]:
    """Return CPU seconds of each live pid, its reaped children's included."""
    times: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = sum(int(x) for x in fields[11:15]) / CLOCK_TICKS
    return times


def machine_busy_s() -> float:
    """Return CPU seconds spent by all processes on every core (user, nice, system, irq)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[i] for i in (0, 1, 2, 5, 6)) / CLOCK_TICKS


def ours() -> set[int]:
    """Return this process and every descendant (cluster, loaders, FFmpeg)."""
    return {os.getpid(), *(p.pid for p in descendants(os.getpid()))}


class ForeignCpu:
    """Measure the CPU that processes outside this benchmark used (other people's work), as a
    % of the machine: all busy time minus ours, our exited children counted through their
    parents."""

    def start(self) -> ForeignCpu:
        self._began, self._busy = time.monotonic(), machine_busy_s()
        self._before = cpu_of(ours())
        return self

    def stop(self) -> float:
        elapsed, busy = time.monotonic() - self._began, machine_busy_s() - self._busy
        after = cpu_of(ours())
        mine = sum(total - self._before.get(pid, 0.0) for pid, total in after.items())
        mine -= sum(total for pid, total in self._before.items() if pid not in after)
        capacity = elapsed * (os.cpu_count() or 1)
        return round(max(0.0, 100.0 * (busy - mine) / capacity), 1) if capacity else 0.0


def _ffmpeg_version(binary: str = "ffmpeg") -> str:
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.split(" Copyright")[0].replace("ffmpeg version ", "") or "unknown"


def _memory_total_mb() -> int | None:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Return nproc, memory, CPU model, FFmpeg and Python versions, and the load average."""
    return {
        "nproc": os.cpu_count(),
        "memory_mb": _memory_total_mb(),
        "cpu_model": _cpu_model(),
        "ffmpeg": _ffmpeg_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
