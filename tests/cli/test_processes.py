"""The supervisor: restarts with backoff, stops everything, kills what will not stop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli import proctree
from cli.processes import Child, Supervisor, child_env
from common.settings import Settings
from tests.support.ports import wait_for

ROOT = Path(__file__).resolve().parents[2]

IGNORES_TERM = (
    "import os, signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
    " start_new_session=True)\n"
    "open(sys.argv[1], 'w').write('ready')\n"
    "time.sleep(600)\n"
)


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def test_child_env_takes_ffcluster_variables_from_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFCLUSTER_API_TOKEN", "stale")
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "9")
    settings = Settings.from_env({}, port=5123, concurrency=2)
    env = child_env(settings, {"EXTRA": "1"})
    assert "FFCLUSTER_API_TOKEN" not in env and "MAX_CONCURRENT_JOBS" not in env
    assert (env["FFCLUSTER_PORT"], env["FFCLUSTER_CONCURRENCY"]) == ("5123", "2")
    assert env["EXTRA"] == "1" and env["PATH"] == os.environ["PATH"]


def test_dead_child_is_restarted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor(grace_s=2)
    caplog.set_level(logging.WARNING, logger="cli.processes")
    child = supervisor.add(Child("worker", _python("import sys; sys.exit(3)"), dict(os.environ)))
    first = child.process
    try:
        def restarted() -> bool:
            supervisor.check()
            return child.process is not first and child.running()

        wait_for(restarted, timeout=20, interval=0.05, message="restart")
    finally:
        supervisor.shutdown()
    assert child.exits[0] == 3
    assert "worker exited with code 3; restarting in 1 s" in caplog.messages


def test_backoff_grows_for_quick_failures() -> None:
    child = Child("web", ["true"], {})
    delays = []
    for _ in range(7):
        child.quick_failures += 1
        delays.append(child.backoff_s())
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_shutdown_kills_a_stubborn_child_and_its_orphan(tmp_path: Path) -> None:
    supervisor = Supervisor(grace_s=0.5)
    ready = tmp_path / "ready"
    child = supervisor.add(Child("stubborn", _python(IGNORES_TERM, str(ready)), dict(os.environ)))
    wait_for(ready.exists, timeout=20, message="child ready")
    tree = proctree.descendants(os.getpid())
    assert len([p for p in tree if p.pgid != os.getpgrp()]) >= 2
    supervisor.shutdown()
    assert child.process is not None and child.process.returncode == -9
    assert not [p for p in tree if proctree.is_alive(p)]


def test_signal_stops_the_run_loop() -> None:
    supervisor = Supervisor(grace_s=1)
    supervisor.add(Child("sleeper", _python("import time; time.sleep(600)"), dict(os.environ)))
    timer = threading.Timer(0.3, supervisor._on_signal, args=(15, None))
    timer.start()
    supervisor.run()
    supervisor.shutdown()
    assert supervisor.stopping and not supervisor.children[0].running()


SUPERVISE_A_STUBBORN_CHILD = (
    "import os, sys\n"
    "from cli.processes import Child, Supervisor\n"
    "supervisor = Supervisor(grace_s=60)\n"
    "supervisor.install_signal_handlers()\n"
    "supervisor.add(Child('stubborn', [sys.executable, '-c', sys.argv[1], sys.argv[2]],"
    " dict(os.environ)))\n"
    "try:\n"
    "    supervisor.run()\n"
    "finally:\n"
    "    supervisor.shutdown()\n"
)


def test_a_second_ctrl_c_kills_at_once(tmp_path: Path) -> None:
    """The first SIGINT starts a graceful stop (60 s of grace); the second kills now."""
    ready = tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-c", SUPERVISE_A_STUBBORN_CHILD,
                                IGNORES_TERM, str(ready)], cwd=ROOT)
    try:
        wait_for(ready.exists, timeout=20, message="the stubborn child ready")
        tree = proctree.descendants(process.pid)
        process.send_signal(signal.SIGINT)
        wait_for(lambda: any(p.pid != process.pid and proctree.is_alive(p) for p in tree),
                 timeout=5, message="the child still running after the first Ctrl-C")
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)  # the first one waits out the grace period
        second = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert time.monotonic() - second < 5
        assert not [p for p in tree if proctree.is_alive(p)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
