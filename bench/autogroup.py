"""Emulate a proposed worker change: give each FFmpeg's session autogroup its niceness.

With ``kernel.sched_autogroup_enabled=1`` the scheduler first shares the CPU between
sessions (autogroups), and only then by niceness inside one. FFmpeg runs in its own session
(``start_new_session``), so ``os.nice(10)`` alone leaves it an equal share against the web
tier. Writing the niceness to ``/proc/<pid>/autogroup`` is what makes it yield; this thread
does that from outside for the measurement, until the worker does it itself.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from bench.procfs import comm

POLL_S = 0.05


def autogroup_enabled() -> bool | None:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def children_of(pid: int) -> list[int]:
    """Return the children of every thread of ``pid`` (no full /proc scan)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(x) for x in (task / "children").read_text().split()]
    return found


class AutogroupRenicer:
    """While running, set the autogroup niceness of every FFmpeg under the worker."""

    def __init__(self, worker_pid: int, nice: int = 10) -> None:
        self.worker_pid, self.nice = worker_pid, nice
        self.reniced: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AutogroupRenicer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            for pool in children_of(self.worker_pid):
                for pid in children_of(pool):
                    if pid not in self.reniced and comm(pid) == "ffmpeg":
                        with contextlib.suppress(OSError):
                            Path(f"/proc/{pid}/autogroup").write_text(str(self.nice))
                            self.reniced.add(pid)
