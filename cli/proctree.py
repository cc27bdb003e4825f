"""Read the process tree from /proc (Linux), to find and reap every process ``up`` started."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Proc:
    """A process identified by pid and start time, so a reused pid is never mistaken for it."""

    pid: int
    ppid: int
    pgid: int
    start: int
    state: str


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., starttime is field 22.
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[19]), fields[0])


def all_procs() -> list[Proc]:
    if not Path("/proc/self/stat").exists():
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := read_proc(int(entry.name))) is not None:
            found.append(proc)
    return found


def descendants(pid: int) -> list[Proc]:
    """Return every live descendant of ``pid`` (zombies excluded)."""
    children: dict[int, list[Proc]] = {}
    for proc in all_procs():
        children.setdefault(proc.ppid, []).append(proc)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            stack.append(child.pid)
            if child.state != "Z":
                found.append(child)
    return found


def is_alive(proc: Proc) -> bool:
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state != "Z"


def become_subreaper() -> bool:
    """Adopt orphans of our children (Linux), so that none escapes the shutdown sweep."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_strays(owned: set[int]) -> list[int]:
    """SIGKILL and reap our direct children that are not in ``owned`` (adopted orphans)."""
    me = os.getpid()
    killed = []
    for proc in all_procs():
        if proc.ppid != me or proc.pid in owned:
            continue
        if proc.state != "Z":
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proc.pid, 0)
    return killed


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
