"""Redis URLs: the Sentinel form every client and Celery's broker read the same way."""

from __future__ import annotations

import pytest

from common.celery_config import broker, celery_config
from common.redis_client import SentinelTarget, sentinel_target
from common.settings import Settings, SettingsError


def test_a_sentinel_url_names_the_sentinels_database_and_service() -> None:
    target = sentinel_target("redis+sentinel://:p%40ss@h1:26379,h2:26380,[::1]:26381/2/farm")
    assert target == SentinelTarget((("h1", 26379), ("h2", 26380), ("::1", 26381)), "farm", 2,
                                    None, "p@ss")
    assert sentinel_target("redis://127.0.0.1:6379/0") is None


@pytest.mark.parametrize("url", ["redis+sentinel://h1:26379/0", "redis+sentinel://h1/0/farm",
                                 "redis+sentinel:///0/farm", "redis+sentinel://h1:x/0/farm"])
def test_a_malformed_sentinel_url_is_refused_with_a_sentence(url: str) -> None:
    with pytest.raises(SettingsError, match="FFCLUSTER_REDIS_URL"):
        Settings(redis_url=url).validate()


def test_celery_gets_kombus_sentinel_transport_with_the_service() -> None:
    url, options = broker("redis+sentinel://:secret@h1:26379,h2:26379/0/farm")
    assert url == "sentinel://:secret@h1:26379/0;sentinel://:secret@h2:26379/0"
    assert options["master_name"] == "farm"
    config = celery_config(Settings(redis_url="redis+sentinel://h1:26379,h2:26379/1/farm"))
    assert config["broker_url"] == "sentinel://h1:26379/1;sentinel://h2:26379/1"
    assert config["broker_transport_options"]["master_name"] == "farm"
    assert config["broker_transport_options"]["visibility_timeout"] == 43200
    assert broker("redis://r:6379/0") == ("redis://r:6379/0", {})
