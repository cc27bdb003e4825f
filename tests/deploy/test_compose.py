"""docker-compose.yml: valid for `docker-compose config`, and every command is a real program."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.parser import build_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (`make setup` installs it)"
)
SECRETS = {"FLOWER_PASSWORD": "s3cret", "FLOWER_USER": "ops",
           "FFCLUSTER_REDIS_PASSWORD": "r3dispass"}


def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("FFCLUSTER_", "FLOWER_", "COMPOSE_"))}
    return subprocess.run([str(COMPOSE), "-f", "docker-compose.yml", *args], cwd=REPO_ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed (`make setup` installs it)")
    result = compose("config", **SECRETS)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"redis", "web", "worker-cpu", "worker-gpu", "flower",
                                       "watch"}
    assert set(config["volumes"]) == {"media", "redis-data"}


@needs_compose
@pytest.mark.parametrize("missing", ["FLOWER_PASSWORD", "FFCLUSTER_REDIS_PASSWORD"])
def test_flower_and_redis_passwords_are_required(missing: str) -> None:
    result = compose("config", **{k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_redis_is_private_persistent_and_needs_its_password(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert "ports" not in redis
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert redis["command"][-2:] == ["--requirepass", "r3dispass"]
    assert redis["image"] == "redis:7"
    assert redis["environment"]["REDISCLI_AUTH"] == "r3dispass"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@needs_compose
def test_redis_image_is_configurable() -> None:
    result = compose("config", FFCLUSTER_REDIS_IMAGE="localhost/ffcluster-redis:7", **SECRETS)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["services"]["redis"]["image"] == \
        "localhost/ffcluster-redis:7"


def test_gpu_worker_is_in_a_profile_with_a_device(config: dict[str, Any]) -> None:
    gpu = config["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "video" in gpu["environment"]["NVIDIA_DRIVER_CAPABILITIES"]
    optional = {"worker-gpu", "watch"}
    assert all("profiles" not in s for n, s in config["services"].items() if n not in optional)


def test_the_watch_folder_is_an_optional_service_talking_to_the_api(
    config: dict[str, Any]
) -> None:
    watch = config["services"]["watch"]
    assert watch["profiles"] == ["watch"]
    args = build_parser().parse_args(watch["command"])
    assert (args.command, str(args.folder), str(args.output_dir), args.url) == (
        "watch", "/watch/in", "/watch/out", "http://web:5000")
    assert args.resume_file.name.startswith(".")  # hidden: the watcher never submits it
    assert watch["depends_on"]["web"]["condition"] == "service_healthy"
    assert "FFCLUSTER_REDIS_URL" not in watch["environment"]  # it needs only the API


def test_scalable_workers_and_grace(config: dict[str, Any]) -> None:
    for name in ("worker-cpu", "worker-gpu"):
        worker = config["services"][name]
        assert "container_name" not in worker and "ports" not in worker
        assert worker["stop_grace_period"] == "10m"


def test_shared_media_volume_and_settings(config: dict[str, Any]) -> None:
    for name in ("web", "worker-cpu", "worker-gpu", "flower"):
        service = config["services"][name]
        assert "media:/data:rw" in service["volumes"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker-cpu", "worker-gpu"):
        env = config["services"][name]["environment"]
        assert env["FFCLUSTER_REDIS_URL"] == "redis://:r3dispass@redis:6379/0"
        assert env["FFCLUSTER_DATA_DIR"] == "/data"
        assert all(k.startswith(("FFCLUSTER_", "NVIDIA_")) for k in env)
    web = config["services"]["web"]
    assert web["environment"]["FFCLUSTER_ASYNC_MODE"] == "eventlet"
    assert web["environment"]["FFCLUSTER_ALLOWED_HOSTS"] == "localhost,127.0.0.1,web"
    assert web["environment"]["FFCLUSTER_FLOWER_URL"] == "http://localhost:5555"
    assert {"published": 5000, "target": 5000} in [
        {k: int(v) for k, v in p.items() if k in ("published", "target")} for p in web["ports"]]
    assert web["healthcheck"]["test"] == ["CMD", "ffcluster", "health"]
    assert build_parser().parse_args(["health"]).command == "health"


def test_ffcluster_commands_are_real_subcommands(config: dict[str, Any]) -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["ffcluster"\]$', dockerfile, re.M)
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ffcluster"] == "cli.main:main"
    expected = {"web": "web", "worker-cpu": "worker", "worker-gpu": "worker"}
    for name, subcommand in expected.items():
        service = config["services"][name]
        assert "entrypoint" not in service
        args = build_parser().parse_args(service["command"])
        assert args.command == subcommand
    gpu = build_parser().parse_args(config["services"]["worker-gpu"]["command"])
    cpu = build_parser().parse_args(config["services"]["worker-cpu"]["command"])
    assert (gpu.gpu, cpu.gpu) == ("on", "off")


def test_flower_command_runs_celery_flower(config: dict[str, Any]) -> None:
    flower = config["services"]["flower"]
    assert flower["entrypoint"] == ["celery"]
    assert flower["command"] == ["flower", "--port=5555"]  # no secret on its command line
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "ops:s3cret"
    assert flower["environment"]["CELERY_BROKER_URL"] == "redis://:r3dispass@redis:6379/0"
    result = subprocess.run([sys.executable, "-m", "celery", "flower", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "monitoring and administrating Celery" in result.stdout
    from flower.options import options  # the options Flower parses from --name=value

    flower_args = flower["command"][flower["command"].index("flower") + 1:]
    names = {arg[2:].split("=", 1)[0] for arg in flower_args}
    assert names == {"port"} and names <= set(options._options)
    assert "basic-auth" in options._options  # what FLOWER_BASIC_AUTH sets


def test_dockerfile_builds_one_slim_non_root_image() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", dockerfile, re.M)
    assert re.search(r"apt-get install -y --no-install-recommends ffmpeg", dockerfile)
    assert re.search(r"^USER ffcluster$", dockerfile, re.M)
    # Dependencies from pyproject.toml alone before the code, so a code change reuses them.
    assert dockerfile.index("pip install --no-cache-dir -r") < dockerfile.index("COPY common")
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    ignore = (REPO_ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    assert [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
            if not line.startswith("#")] == [line for line in ignore if not line.startswith("#")]
    sources = [source for line in dockerfile.splitlines() if line.startswith("COPY ")
               for source in line.split()[1:-1]]
    assert sources == ["pyproject.toml", "README.md", "common", "workers", "web", "cli"]
    for source in sources:
        assert f"!{source.rstrip('/')}/" in ignore or f"!{source}" in ignore, source
        assert (REPO_ROOT / source).exists(), source
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in packages["packages"]["find"]["include"]:
        assert f"COPY {pattern.rstrip('*')} ./{pattern.rstrip('*')}" in dockerfile
