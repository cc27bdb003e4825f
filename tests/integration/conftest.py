"""A small real cluster per module: one GPU-tagged worker (`--gpu on`) on a private Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.jobs import EventRecorder
from tests.support.redis_server import RedisServer
from tests.support.workers import WorkerProcess, start_worker


@pytest.fixture(scope="module")
def gpu_settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
                 ladder_file: Path) -> Settings:
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            gpu="on")


@pytest.fixture(scope="module")
def gpu_worker(gpu_settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[WorkerProcess]:
    worker = start_worker(gpu_settings, tmp_path_factory.mktemp("logs"), "gpu1")
    yield worker
    worker.stop()


@pytest.fixture
def events(gpu_settings: Settings) -> Iterator[EventRecorder]:
    recorder = EventRecorder(gpu_settings.effective_redis_url)
    yield recorder
    recorder.close()
