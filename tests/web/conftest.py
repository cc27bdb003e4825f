"""Fixtures for the web tier in process (fakeredis); real Redis comes from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from common.settings import Settings
from tests.support.workers import RecordingProducer
from web.app import create_app


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


@pytest.fixture
def make_app(
    tmp_path: Path, fake_redis: fakeredis.FakeRedis, producer: RecordingProducer
) -> Any:
    """Return a factory building an app on fakeredis with settings overrides."""

    def build(**overrides: Any) -> Flask:
        settings = Settings.from_env({}, data_dir=tmp_path / "data", **overrides)
        return create_app(settings, redis_client=fake_redis, producer=producer,
                          message_queue=False)

    return build


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app(max_upload_mb=1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
