"""`ffcluster watch` against a real web tier and worker: files dropped while it runs and
while it is stopped become one job each, a file still being written waits until it
settles, a restart or a renamed folder never submits a file twice, outputs land in OUT."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = pytest.mark.timeout(240)
SETTLE_S = 1.0


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
             ladder_file: Path) -> Settings:
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file)


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[WebProcess]:
    worker: WorkerProcess = start_worker(settings, tmp_path_factory.mktemp("logs"), "watch")
    web = start_web_with(settings, "threading")
    yield web
    web.stop()
    worker.stop()


@pytest.fixture(scope="module")
def clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "watch-clip.mp4", seconds=1)


class Watcher:
    def __init__(self, web: WebProcess, folder: Path, out: Path, state: Path) -> None:
        self.log = state.with_suffix(".log")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "watch", str(folder), "--url", web.url,
                 "--output-dir", str(out), "--profiles", "144p", "--settle", str(SETTLE_S),
                 "--rescan", "2", "--resume-file", str(state)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "FFCLUSTER_LOG_LEVEL": "DEBUG"})

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    return inbox, out, tmp_path / "uploads.json"


def _jobs(web: WebProcess, name: str) -> list[dict[str, Any]]:
    listed = requests.get(f"{web.url}/api/jobs", params={"limit": 200}, timeout=5).json()
    return [j for j in listed["jobs"] if j["source_name"] == name]


def _output(out: Path, relative: str) -> Path:
    return wait_for(lambda: (path := out / relative / "144p.mp4").exists() and path,
                    timeout=90, interval=0.2, message=f"{relative}/144p.mp4 in OUT")


def test_files_dropped_before_and_while_it_runs_become_one_job_each_with_outputs(
    cluster: WebProcess, clip: Path, folders: tuple[Path, Path, Path]
) -> None:
    inbox, out, state = folders
    shutil.copy(clip, inbox / "before.mp4")  # dropped while no watcher runs
    watcher = Watcher(cluster, inbox, out, state)
    try:
        (inbox / "shows" / "s01").mkdir(parents=True)
        shutil.copy(clip, inbox / "shows" / "s01" / "during.mp4")
        for relative in ("before", "shows/s01/during"):
            video = stream(ffprobe(_output(out, relative)), "video")
            assert video is not None and video["height"] == 144
        assert len(_jobs(cluster, "before.mp4")) == 1 and len(_jobs(cluster, "during.mp4")) == 1
    finally:
        watcher.stop()


def test_a_file_still_being_written_waits_until_it_settles(
    cluster: WebProcess, clip: Path, folders: tuple[Path, Path, Path]
) -> None:
    inbox, out, state = folders
    watcher = Watcher(cluster, inbox, out, state)
    try:
        data = clip.read_bytes()
        growing = inbox / "growing.mp4"
        with growing.open("wb") as writer:
            for start in range(0, len(data), len(data) // 8 + 1):  # 8 pieces over ~4 s
                writer.write(data[start:start + len(data) // 8 + 1])
                writer.flush()
                time.sleep(SETTLE_S / 2)
                assert _jobs(cluster, "growing.mp4") == [], "submitted while being written"
        video = stream(ffprobe(_output(out, "growing")), "video")
        assert video is not None and len(_jobs(cluster, "growing.mp4")) == 1
        assert _jobs(cluster, "growing.mp4")[0]["size_bytes"] == len(data)
    finally:
        watcher.stop()


def test_a_file_whose_job_fails_is_not_submitted_again(
    cluster: WebProcess, folders: tuple[Path, Path, Path]
) -> None:
    inbox, out, state = folders
    (inbox / "notes.mp4").write_bytes(b"not a video at all" * 100)
    watcher = Watcher(cluster, inbox, out, state)
    try:
        failed = wait_for(lambda: (jobs := _jobs(cluster, "notes.mp4")) and
                          jobs[0]["state"] == "failed" and jobs[0], timeout=60, interval=0.2,
                          message="the job of a file that is not a video to fail")
        noted = f"job {failed['id']} failed"
        wait_for(lambda: watcher.log.read_text().split(noted, 1)[-1].count("rescanned") >= 2
                 if noted in watcher.log.read_text() else False, timeout=30, interval=0.2,
                 message="two rescans after the watcher noted the failure")
        assert len(_jobs(cluster, "notes.mp4")) == 1
    finally:
        watcher.stop()
    assert not (out / "notes").exists()


def test_a_restart_and_a_renamed_folder_submit_nothing_twice(
    cluster: WebProcess, clip: Path, folders: tuple[Path, Path, Path]
) -> None:
    inbox, out, state = folders
    (inbox / "day1").mkdir()
    shutil.copy(clip, inbox / "day1" / "once.mp4")
    watcher = Watcher(cluster, inbox, out, state)
    try:
        _output(out, "day1/once")
    finally:
        watcher.stop()
    (inbox / "day1").rename(inbox / "archive")  # renamed while stopped: same file
    again = Watcher(cluster, inbox, out, state)
    try:
        wait_for(lambda: "archive/once.mp4: job" in again.log.read_text(), timeout=30,
                 interval=0.2, message="the restarted watcher to look at the renamed file")
        assert "(known)" in again.log.read_text().split("archive/once.mp4: job", 1)[1]
        _output(out, "archive/once")  # its outputs mirror the new place
    finally:
        again.stop()
    assert len(_jobs(cluster, "once.mp4")) == 1
