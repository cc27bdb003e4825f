"""The web tier and a worker say so when their Redis may evict keys: in their logs at start,
and the web tier in every /api/health answer."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.ports import wait_for
from tests.support.redis_server import start_redis
from tests.support.web import start_web
from tests.support.workers import RecordingProducer, WorkerProcess
from web.app import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
EVICTING = {"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru"}


def test_health_carries_the_warning_and_the_log_has_it_at_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        client = server.client()
        settings = Settings.from_env({}, data_dir=tmp_path / "data")

        def health() -> dict[str, object]:
            app = create_app(settings, redis_client=client, producer=RecordingProducer(),
                             message_queue=False)
            response = app.test_client().get("/api/health")
            assert response.status_code == 200
            return response.get_json()  # type: ignore[no-any-return]

        assert "redis_warning" not in health()
        for name, value in EVICTING.items():
            client.config_set(name, value)
        with caplog.at_level(logging.ERROR, logger="common.redis_config"):
            body = health()
        assert body["status"] == "ok"  # a warning, not an outage: still ready for jobs
        assert "maxmemory-policy allkeys-lru" in str(body["redis_warning"])
        assert [r.getMessage() for r in caplog.records] == [f"web tier: {body['redis_warning']}"]
    finally:
        server.stop()


def test_a_worker_logs_the_warning_when_it_starts(
        tmp_path: Path, ladder_file: Path, worker_factory: Callable[..., WorkerProcess]) -> None:
    server = start_redis(tmp_path / "redis")
    worker = None
    try:
        for name, value in EVICTING.items():
            server.client().config_set(name, value)
        worker = worker_factory(cluster_settings(server.url, tmp_path / "data", ladder_file))
        started = worker
        line = wait_for(lambda: next((ln for ln in started.log().splitlines()
                                      if "worker: Redis may evict keys" in ln), None),
                        timeout=30, message="the worker's warning in its log")
        assert "ERROR" in line and "Set maxmemory-policy to noeviction." in line
    finally:
        if worker is not None:
            worker.stop()  # while its Redis answers (see tests/chaos/test_redis_restart.py)
        server.stop()


def test_ffcluster_status_prints_the_warning(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    web = None
    try:
        for name, value in EVICTING.items():
            server.client().config_set(name, value)
        web = start_web(server.url, tmp_path / "data", "threading")
        shown = subprocess.run([sys.executable, "-m", "cli.main", "status", "--url", web.url],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "Warning: Redis may evict keys: maxmemory is 64.00M with maxmemory-policy " \
               "allkeys-lru" in " ".join(shown.stdout.split())  # the console wraps lines
    finally:
        if web is not None:
            web.stop()
        server.stop()
