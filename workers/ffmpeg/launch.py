"""Start FFmpeg or ffprobe as a well-behaved child: its own session, niced (the process and
its scheduler autogroup), killed when the thread that started it dies.

Python runs a ``preexec_fn`` in a real ``fork`` of the whole worker (5.4 ms for a 73 MB
pool process here, then copy-on-write faults for every page the worker writes next: 7 ms
more to walk its heap once), and runs Python in the child of a threaded process, where a
lock another thread held at the fork can deadlock it.

So the set-up is done by small programs between the fork and the tool instead, and Python
uses ``vfork``: util-linux's ``setpriv`` sets the death signal, ``/bin/sh`` checks the
parent is still the one that asked (it may have died before ``setpriv`` ran) and sets the
autogroup's nice value, and coreutils' ``nice`` the process's. Where ``setpriv`` or ``nice``
is missing (not Linux), the ``preexec_fn`` does the same, the slow way.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

PR_SET_PDEATHSIG = 1
CAPTURED: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
                            "stderr": subprocess.PIPE}
"""Popen's pipes for a tool whose output is read whole: nothing in, both outputs captured."""

LAUNCH_SCRIPT = (
    'test "$PPID" = "$1" || exit 1; n=$2; nice=$3; shift 3; '
    '[ "$n" = 0 ] && exec "$@"; '
    '{ echo "$n" > /proc/self/autogroup; } 2>/dev/null; '
    'exec "$nice" -n "$n" -- "$@"'
)
"""Run by ``/bin/sh`` after ``setpriv --pdeathsig KILL``: ``$1`` the parent's pid, ``$2`` the
nice value, ``$3`` the path of ``nice``, then the tool's command line. A parent that died
before the death signal was set leaves this shell to a reaper: it then runs nothing."""


@functools.cache
def _launcher() -> tuple[str, str] | None:
    """The paths of ``setpriv`` and ``nice``, or None where either is missing."""
    setpriv, nice = shutil.which("setpriv"), shutil.which("nice")
    if not sys.platform.startswith("linux") or setpriv is None or nice is None:
        return None
    return setpriv, nice


def launch_argv(args: Sequence[str], nice: int, parent: int) -> list[str]:
    """The command line that starts ``args`` set up as this module describes."""
    launcher = _launcher()
    if launcher is None:
        raise RuntimeError("setpriv and nice are needed to launch without a preexec_fn")
    setpriv, nice_bin = launcher
    return [setpriv, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", LAUNCH_SCRIPT,
            "media-tool", str(parent), str(nice), nice_bin, *args]


def media_tool_setup(nice: int) -> Callable[[], None]:
    """Return a preexec_fn that ties FFmpeg's (or ffprobe's) life to this process and lowers
    its priority (the fallback where there is no ``setpriv``)."""
    parent = os.getpid()

    def setup() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
        if nice:
            os.nice(nice)
            # FFmpeg leads its own session; with the kernel's autogroup scheduling on, the
            # session's own nice value is what ranks it against the web tier's session.
            with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
                group.write(str(nice))

    return setup


def start_media_tool(args: Sequence[str], nice: int, **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` of FFmpeg or ffprobe in its own session, niced, dying with this
    thread; ``options`` are Popen's (pipes, text). A missing tool raises FileNotFoundError,
    as Popen does."""
    if _launcher() is None:
        return subprocess.Popen(list(args), start_new_session=True,
                                preexec_fn=media_tool_setup(nice), **options)
    if shutil.which(args[0]) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])
    return subprocess.Popen(launch_argv(args, nice, os.getpid()), start_new_session=True,
                            **options)


def run_media_tool(args: Sequence[str], nice: int, timeout_s: float,
                   **options: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` of FFmpeg or ffprobe started like :func:`start_media_tool`: its
    output captured, killed after ``timeout_s`` (TimeoutExpired)."""
    with start_media_tool(args, nice, **CAPTURED, **options) as process:
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(list(args), process.returncode, out, err)
