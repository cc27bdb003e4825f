"""Redis restarted mid-job (append-only file kept): workers reconnect and the job completes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.conftest import wait_encoding
from tests.conftest import cluster_settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.redis_server import start_redis
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_job_survives_a_redis_restart_mid_encode(
    tmp_path: Path, slow_ladder: Path, long_clip: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    server = start_redis(tmp_path / "redis", appendonly=True)
    try:
        settings = cluster_settings(server.url, tmp_path / "data", slow_ladder, concurrency=1,
                                    x264_threads=1)
        worker = worker_factory(settings)
        job = submit(settings, long_clip)
        wait_encoding(settings, job.id)

        server.stop()  # a clean shutdown writes the append-only file
        server = start_redis(tmp_path / "redis", appendonly=True, port=server.port)

        final = wait_for_job(settings, job.id, timeout=180)
        assert final.renditions[0].state == "done"
        assert (job_dir(settings, job.id) / "360p.mp4").stat().st_size > 0
        assert worker.alive()
    finally:
        server.stop()
