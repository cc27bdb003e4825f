"""Settings.from_env: types, the MAX_CONCURRENT_JOBS alias, errors, round trips, docs."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from common.settings import DEFAULT_REDIS_URL, Settings, SettingsError
from tests.support.files import job_dir, uploads_dir


def test_defaults_from_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.effective_redis_url == DEFAULT_REDIS_URL
    assert uploads_dir(settings) == Path("data") / "uploads"
    assert job_dir(settings, "abc") == Path("data") / "outputs" / "abc"


def test_values_are_converted_to_their_field_types() -> None:
    settings = Settings.from_env({
        "FFCLUSTER_REDIS_URL": "redis://10.0.0.1:6380/2",
        "FFCLUSTER_DATA_DIR": "/srv/ffc",
        "FFCLUSTER_PROFILES_FILE": "/etc/ffc/ladder.toml",
        "FFCLUSTER_PORT": "8080",
        "FFCLUSTER_HEARTBEAT_S": "0.5",
        "FFCLUSTER_FUSE_RENDITIONS": "off",
        "FFCLUSTER_GPU": "on",
        "FFCLUSTER_ASYNC_MODE": "eventlet",
        "FFCLUSTER_API_TOKEN": "s3cret",
    })
    assert settings.redis_url == "redis://10.0.0.1:6380/2"
    assert settings.effective_redis_url == "redis://10.0.0.1:6380/2"
    assert settings.data_dir == Path("/srv/ffc")
    assert settings.profiles_file == Path("/etc/ffc/ladder.toml")
    assert settings.port == 8080 and isinstance(settings.port, int)
    assert settings.heartbeat_s == 0.5 and isinstance(settings.heartbeat_s, float)
    assert settings.fuse_renditions is False
    assert (settings.gpu, settings.async_mode, settings.api_token) == ("on", "eventlet", "s3cret")


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("true", True), ("YES", True), (" On ", True),
    ("0", False), ("False", False), ("no", False), ("off", False),
])
def test_boolean_spellings(raw: str, expected: bool) -> None:
    assert Settings.from_env({"FFCLUSTER_FUSE_RENDITIONS": raw}).fuse_renditions is expected


def test_empty_values_mean_unset() -> None:
    settings = Settings.from_env({"FFCLUSTER_PORT": "", "FFCLUSTER_REDIS_URL": ""})
    assert settings.port == 5000
    assert settings.redis_url is None


def test_max_concurrent_jobs_is_an_alias_for_concurrency() -> None:
    assert Settings.from_env({"MAX_CONCURRENT_JOBS": "4"}).concurrency == 4
    both = {"MAX_CONCURRENT_JOBS": "4", "FFCLUSTER_CONCURRENCY": "2"}
    assert Settings.from_env(both).concurrency == 2


def test_empty_concurrency_falls_back_to_the_alias() -> None:
    env = {"FFCLUSTER_CONCURRENCY": "", "MAX_CONCURRENT_JOBS": "4"}
    assert Settings.from_env(env).concurrency == 4


def test_overrides_win_and_none_overrides_are_ignored() -> None:
    settings = Settings.from_env({"FFCLUSTER_PORT": "8080"}, port=9000, gpu=None)
    assert settings.port == 9000
    assert settings.gpu == "auto"
    assert settings.with_overrides(gpu="off", port=None) == Settings.from_env({}, port=9000,
                                                                              gpu="off")


@pytest.mark.parametrize("variable, raw", [
    ("FFCLUSTER_PORT", "http"),
    ("FFCLUSTER_CONCURRENCY", "2.5"),
    ("FFCLUSTER_HEARTBEAT_S", "fast"),
    ("FFCLUSTER_FUSE_RENDITIONS", "maybe"),
    ("FFCLUSTER_GPU", "sometimes"),
    ("FFCLUSTER_ASYNC_MODE", "asyncio"),
    ("FFCLUSTER_CONCURRENCY", "0"),
    ("FFCLUSTER_MAX_ATTEMPTS", "-1"),
    ("FFCLUSTER_MAX_UPLOAD_MB", "0"),
    ("FFCLUSTER_LEASE_S", "0"),
    ("MAX_CONCURRENT_JOBS", "lots"),
])
def test_invalid_values_raise_a_sentence_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: raw})
    message = str(caught.value)
    named = "FFCLUSTER_CONCURRENCY" if variable == "MAX_CONCURRENT_JOBS" else variable
    assert named in message
    assert message.endswith(".")
    assert message[0].isupper()


def test_invalid_overrides_are_refused_too() -> None:
    with pytest.raises(SettingsError, match="FFCLUSTER_GPU"):
        Settings.from_env({}, gpu="yes")
    with pytest.raises(SettingsError, match="FFCLUSTER_CONCURRENCY"):
        Settings().with_overrides(concurrency=0)


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_non_positive_heartbeat_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="FFCLUSTER_HEARTBEAT_S"):
        Settings.from_env({"FFCLUSTER_HEARTBEAT_S": raw})


def test_environment_round_trips_through_from_env() -> None:
    settings = Settings.from_env({}, redis_url="redis://127.0.0.1:1234/3", data_dir=Path("/d"),
                                 profiles_file=Path("/p.json"), port=5050, gpu="off",
                                 fuse_renditions=False, heartbeat_s=0.25, concurrency=3,
                                 api_token="tok", webhook_url="http://h/x", progress_hz=2.5)
    env = settings.environment()
    assert all(name.startswith("FFCLUSTER_") for name in env)
    assert all(isinstance(value, str) for value in env.values())
    assert "FFCLUSTER_SECRET_KEY" not in env  # None stays unset
    assert Settings.from_env(env) == settings
    assert Settings.from_env(Settings().environment()) == Settings()


def test_documentation_covers_every_field() -> None:
    rows = Settings.documentation()
    assert [row[0] for row in rows] == [f"FFCLUSTER_{f.name.upper()}" for f in fields(Settings)]
    assert all(help_text.strip() for _, _, help_text in rows)
    table = {name: default for name, default, _ in rows}
    assert table["FFCLUSTER_PORT"] == "5000"
    assert table["FFCLUSTER_REDIS_URL"] == ""
    assert table["FFCLUSTER_DATA_DIR"] == "data"
