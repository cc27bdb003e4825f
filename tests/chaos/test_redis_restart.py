"""Redis restarted mid-job (append-only file kept): workers reconnect and the job completes;
and the web tier's health answers through a restart: alive throughout, not ready while Redis
is gone, ready again on its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.chaos.conftest import wait_encoding
from tests.conftest import cluster_settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.ports import wait_for
from tests.support.redis_server import start_redis
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_job_survives_a_redis_restart_mid_encode(
    tmp_path: Path, slow_ladder: Path, long_clip: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    server = start_redis(tmp_path / "redis", appendonly=True)
    worker = None
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
        _stop_before_redis(worker)
        server.stop()


def _stop_before_redis(worker: WorkerProcess | None) -> None:
    """Stop the worker while its broker still answers: one whose Redis is gone spends 10 s
    in its warm shutdown before it is killed."""
    if worker is not None:
        worker.stop()


def _answer(web: WebProcess, path: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{web.url}{path}", timeout=5)
    return response.status_code, response.json()


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_a_redis_restart_makes_the_web_tier_unready_but_never_dead(
    tmp_path: Path, ladder_file: Path, worker_factory: Callable[..., WorkerProcess],
    async_mode: str,
) -> None:
    server = start_redis(tmp_path / "redis", appendonly=True)
    web = worker = None
    try:
        settings = cluster_settings(server.url, tmp_path / "data", ladder_file, concurrency=1)
        worker = worker_factory(settings)
        web = start_web_with(settings, async_mode)
        ready = wait_for(lambda: (a := _answer(web, "/api/ready"))[0] == 200 and a, timeout=60,
                         interval=0.2, message="the web tier to see the worker")
        assert ready[1]["workers_online"] == 1

        server.stop()
        status, health = wait_for(
            lambda: (a := _answer(web, "/api/health"))[0] == 503 and a, timeout=30,
            interval=0.2, message="health to say Redis is gone")
        assert health == {**health, "status": "degraded", "redis": False,
                          "error": "Redis does not answer."}
        assert _answer(web, "/api/live") == (200, {"status": "alive", "async_mode": async_mode})
        status, not_ready = _answer(web, "/api/ready")
        assert status == 503 and not_ready["error"] == "Redis does not answer."

        server = start_redis(tmp_path / "redis", appendonly=True, port=server.port)
        wait_for(lambda: _answer(web, "/api/ready")[0] == 200, timeout=60, interval=0.2,
                 message="the web tier to be ready again")
        assert _answer(web, "/api/health")[1]["redis"] is True
        assert web.process.poll() is None, "the web tier was restarted, or died"
        assert worker.alive()
    finally:
        if web is not None:
            web.stop()
        _stop_before_redis(worker)
        server.stop()
