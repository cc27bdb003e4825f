"""Fixtures of the security suite: a cluster's settings on a clean module Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.redis_server import RedisServer


@pytest.fixture
def settings(redis_server: RedisServer, tmp_path: Path, ladder_file: Path) -> Settings:
    redis_server.client().flushall()
    return cluster_settings(redis_server.url, tmp_path / "data", ladder_file, concurrency=1)
