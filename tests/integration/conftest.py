"""Integration fixtures: the module's GPU-tagged worker comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.settings import Settings
from tests.support.jobs import EventRecorder


@pytest.fixture
def events(gpu_settings: Settings) -> Iterator[EventRecorder]:
    recorder = EventRecorder(gpu_settings.effective_redis_url)
    yield recorder
    recorder.close()
