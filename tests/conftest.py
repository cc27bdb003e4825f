"""Fixtures with real components: redis-server, celery workers, FFmpeg-made clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from tests.support.jobs import write_test_ladder
from tests.support.media import make_clip
from tests.support.redis_server import RedisServer, start_redis
from tests.support.s3 import CREDENTIALS, S3Server, start_s3
from tests.support.workers import WorkerProcess, start_worker

SERIAL_PATHS = ("tests/chaos/", "tests/security/test_bombs.py")
"""Tests that time what they prove (takeover within 30 s, p99 under load, a job failing
within N s): `make test` runs them alone, after the rest has run two at a time."""
PARALLEL_SAFE = ("tests/chaos/test_api_fuzz.py", "tests/chaos/test_disk_full.py",
                 "tests/chaos/test_redis_failover.py", "tests/chaos/test_redis_restart.py",
                 "tests/chaos/test_secrets.py", "tests/chaos/test_readme_table.py",
                 "tests/chaos/test_torn_steps.py")
"""Chaos tests that time nothing (they poll for outcomes with deadlines), so they run two at
a time with the rest."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in item.nodeid for part in SERIAL_PATHS) and \
                not any(part in item.nodeid for part in PARALLEL_SAFE):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server per test module, so registries and queues never mix."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server for one module; the module's processes get test credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        server = start_s3(tmp_path_factory.mktemp("moto"))
        yield server
        server.stop()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    """A 2 s 320x240 H.264 + AAC clip."""
    return make_clip(media_dir / "clip.mp4")


@pytest.fixture(scope="session")
def silent_clip(media_dir: Path) -> Path:
    """A 2 s 320x240 H.264 clip without audio."""
    return make_clip(media_dir / "silent.mp4", audio=False)


@pytest.fixture(scope="session")
def ladder_file(media_dir: Path) -> Path:
    return write_test_ladder(media_dir / "ladder.json")


def cluster_settings(redis_url: str, data_dir: Path, ladder: Path, **overrides: object) -> Settings:
    """Settings for a test cluster: its own data dir, the small test ladder, fast heartbeats."""
    values: dict[str, object] = {
        "redis_url": redis_url, "data_dir": data_dir, "profiles_file": ladder,
        "heartbeat_s": 0.5, "lease_s": 3, "concurrency": 2, "gpu": "off", "ffmpeg_nice": 0,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture(scope="module")
def gpu_settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
                 ladder_file: Path) -> Settings:
    """A module's cluster settings with the test ladder and a worker tagged `--gpu on`."""
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            gpu="on")


@pytest.fixture(scope="module")
def gpu_worker(gpu_settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[WorkerProcess]:
    """One real GPU-tagged worker per module (NVENC really fails here and falls back)."""
    worker = start_worker(gpu_settings, tmp_path_factory.mktemp("logs"), "gpu1")
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real workers for one test; every one is stopped (and its group killed) after."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, name: str = "w1", **kwargs: object) -> WorkerProcess:
        worker = start_worker(settings, tmp_path / "logs", name, **kwargs)  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
