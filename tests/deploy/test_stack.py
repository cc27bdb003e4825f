"""The real docker-compose.yml, built and booted on a container engine, driven as a user would.

Podman serves the Docker API on a private socket; Debian's docker-compose 1.29 drives it
with nothing but environment variables. The steps run in order on one stack; each prints
how long it took.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.containers import (
    Engine,
    HealthChecker,
    ensure_base_image,
    missing_reason,
    open_published_ports,
    project_containers,
    remove_project,
    start_engine,
)
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = Path(__file__).resolve().parent / "images"
REDIS_IMAGE = "localhost/ffcluster-redis:7"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Stack:
    engine: Engine
    env: dict[str, str]
    project: str
    url: str
    flower_url: str
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", *args],
                                cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stderr[-4000:]}"
        if args[:1] == ("up",):
            open_published_ports(self.engine, self.project)
        return result

    def containers(self, service: str) -> list[dict[str, object]]:
        return [c for c in project_containers(self.engine, self.project)
                if dict(c.get("Labels") or {}).get("com.docker.compose.service") == service]

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", service).stdout

    def timed(self, step: str, started: float) -> None:
        self.timings[step] = round(time.monotonic() - started, 1)
        print(f"stack step {step}: {self.timings[step]} s", flush=True)


def _health(container: dict[str, object], engine: Engine) -> str:
    state = json.loads(engine.podman("inspect", str(container["Id"])).stdout)[0]["State"]
    return str((state.get("Health") or state.get("Healthcheck") or {}).get("Status", ""))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = missing_reason()
    if reason:
        pytest.skip(f"The compose stack test cannot run: {reason}.")
    engine = start_engine()
    project = f"ffctest{secrets.token_hex(3)}"
    port, flower_port = free_port(), free_port()
    env = {k: v for k, v in engine.env.items()
           if not k.startswith(("FFCLUSTER_", "FLOWER_", "COMPOSE_"))}
    env.update(COMPOSE_PROJECT_NAME=project, FFCLUSTER_IMAGE=f"localhost/ffcluster:{project}",
               FFCLUSTER_REDIS_IMAGE=REDIS_IMAGE, FFCLUSTER_REDIS_PASSWORD=secrets.token_hex(16),
               FLOWER_PASSWORD="stack-flower", FLOWER_USER="ops",
               FFCLUSTER_PUBLISH_PORT=str(port), FLOWER_PORT=str(flower_port),
               FFCLUSTER_CONCURRENCY="1", FFCLUSTER_LOG_LEVEL="INFO")
    stack = Stack(engine, env, project, f"http://127.0.0.1:{port}",
                  f"http://127.0.0.1:{flower_port}")
    checker = HealthChecker(engine, project)
    try:
        started = time.monotonic()
        print(f"base image: {ensure_base_image(engine)}", flush=True)
        engine.podman("build", "--network", "host", "-t", REDIS_IMAGE, "-f",
                      str(IMAGES / "redis.Dockerfile"), str(IMAGES), timeout=600)
        stack.timed("base and Redis images", started)
        checker.start()
        yield stack
    finally:
        checker.stop()
        subprocess.run(["docker-compose", "-f", "docker-compose.yml", "down", "-v",
                        "--remove-orphans", "-t", "5"], cwd=REPO_ROOT, env=env,
                       capture_output=True, timeout=180)
        remove_project(engine, project)
        engine.podman("rmi", "-f", env["FFCLUSTER_IMAGE"], check=False)
        engine.stop()
        print(f"stack timings: {stack.timings}", flush=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("stack") / "stack-720p.mp4", seconds=3,
                     size="1280x720")


def _submit(stack: Stack, clip: Path, **fields: str) -> str:
    with clip.open("rb") as handle:
        answer = requests.post(f"{stack.url}/api/jobs", files={"file": (clip.name, handle)},
                               data=fields, timeout=60)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _done(stack: Stack, job_id: str, timeout: float = 240) -> dict[str, object]:
    def finished() -> dict[str, object] | None:
        job = requests.get(f"{stack.url}/api/jobs/{job_id}", timeout=10).json()
        return job if job["state"] in ("done", "failed", "canceled") else None

    job = wait_for(finished, timeout=timeout, interval=0.5, message=f"job {job_id} to end")
    assert job["state"] == "done", json.dumps(job, indent=1)
    return job


def _workers_online(stack: Stack) -> int:
    try:
        return int(requests.get(f"{stack.url}/api/health", timeout=5).json()["workers_online"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return 0


def test_1_up_builds_and_boots_a_healthy_stack(stack: Stack) -> None:
    started = time.monotonic()
    stack.compose("up", "-d", "--build", timeout=900)
    stack.timed("up -d --build", started)
    size = stack.engine.podman("image", "inspect", "--format", "{{.Size}}",
                               stack.env["FFCLUSTER_IMAGE"]).stdout.decode().strip()
    print(f"image {stack.env['FFCLUSTER_IMAGE']}: {int(size) / 1e6:.0f} MB", flush=True)
    for service in ("redis", "web", "worker-cpu", "flower"):
        assert [c.get("State") for c in stack.containers(service)] == ["running"], service
    started = time.monotonic()
    [web] = stack.containers("web")
    wait_for(lambda: _health(web, stack.engine) == "healthy", timeout=90, interval=1,
             message="the web container to turn healthy")
    wait_for(lambda: _workers_online(stack) == 1, timeout=90, interval=1,
             message="the worker online")
    stack.timed("web healthy, worker online", started)


def test_2_a_job_through_the_published_port_encodes_and_downloads(
        stack: Stack, clip: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    job = _done(stack, _submit(stack, clip, profiles="480p"))
    stack.timed("job done", started)
    [rendition] = job["renditions"]  # type: ignore[misc]
    answer = requests.get(f"{stack.url}/api/jobs/{job['id']}/outputs/{rendition['output']}",
                          timeout=30)
    assert answer.status_code == 200
    output = tmp_path / "480p.mp4"
    output.write_bytes(answer.content)
    video = stream(ffprobe(output), "video")
    assert video is not None and (video["codec_name"], video["height"]) == ("h264", 480)
    page = requests.get(f"{stack.url}/", timeout=10)
    assert page.status_code == 200 and 'id="conn-badge"' in page.text


def test_3_flower_needs_its_login_and_redis_is_not_published(stack: Stack) -> None:
    assert requests.get(f"{stack.flower_url}/api/workers", timeout=10).status_code == 401

    def listed() -> bool:
        answer = requests.get(f"{stack.flower_url}/api/workers", params={"refresh": "1"},
                              auth=("ops", "stack-flower"), timeout=15)
        return answer.status_code == 200 and len(answer.json()) >= 1

    wait_for(listed, timeout=60, interval=1, message="Flower listing the worker")
    [redis_container] = stack.containers("redis")
    ports = json.loads(stack.engine.podman("inspect", str(redis_container["Id"])).stdout)[0]
    bindings = ports.get("HostConfig", {}).get("PortBindings") or {}
    assert not any(bindings.values()), bindings


def test_4_two_workers_share_a_ladder(stack: Stack, clip: Path) -> None:
    started = time.monotonic()
    stack.compose("up", "-d", "--no-build", "--scale", "worker-cpu=2")
    wait_for(lambda: _workers_online(stack) == 2, timeout=120, interval=1,
             message="two workers online")
    stack.timed("scale to two workers", started)
    workers = requests.get(f"{stack.url}/api/workers", timeout=10).json()["workers"]
    assert len([w for w in workers if w["online"]]) == 2
    started = time.monotonic()
    job = _done(stack, _submit(stack, clip, profiles="720p,480p", hls="false"))
    stack.timed("ladder on two workers", started)
    ran_on = {r["worker"] for r in job["renditions"]}  # type: ignore[attr-defined]
    assert len(ran_on) == 2, ran_on


def test_5_a_worker_killed_by_the_host_comes_back_and_the_job_completes(
        stack: Stack, clip: Path) -> None:
    long_clip = make_clip(clip.with_name("stack-long.mp4"), seconds=20, size="1280x720")
    job_id = _submit(stack, long_clip, profiles="720p", hls="false")

    def encoding_container() -> dict[str, object] | None:
        job = requests.get(f"{stack.url}/api/jobs/{job_id}", timeout=10).json()
        rendition = (job.get("renditions") or [{}])[0]
        if rendition.get("state") != "encoding" or not rendition.get("percent"):
            return None
        host = str(rendition["worker"]).split("@", 1)[1]
        return next((c for c in stack.containers("worker-cpu")
                     if str(c["Id"]).startswith(host) or host in str(c.get("Names"))), None)

    victim = wait_for(encoding_container, timeout=120, interval=0.5,
                      message="the long job encoding in a worker container")
    pid = json.loads(stack.engine.podman("inspect", str(victim["Id"])).stdout)[0]["State"]["Pid"]
    started = time.monotonic()
    os.kill(int(pid), signal.SIGKILL)  # as the OOM killer would; `docker kill` is a stop

    def restarted() -> bool:
        state = json.loads(stack.engine.podman("inspect", str(victim["Id"])).stdout)[0]
        return state["State"]["Status"] == "running" and state["State"]["Pid"] != pid

    wait_for(restarted, timeout=90, interval=1, message="the restart policy to bring it back")
    stack.timed("killed worker restarted", started)
    job = _done(stack, job_id, timeout=300)
    stack.timed("job after the crash done", started)
    [rendition] = job["renditions"]  # type: ignore[misc]
    assert rendition["state"] == "done" and rendition["attempts"] >= 2


def test_6_down_and_up_keep_jobs_and_outputs(stack: Stack, tmp_path: Path) -> None:
    before = requests.get(f"{stack.url}/api/jobs", timeout=10).json()
    done = [j for j in before["jobs"] if j["state"] == "done"]
    assert len(done) >= 3
    started = time.monotonic()
    stack.compose("down", "-t", "10")
    stack.compose("up", "-d", "--no-build")
    wait_for(lambda: _workers_online(stack) >= 1, timeout=120, interval=1,
             message="the stack back up")
    stack.timed("down and up again", started)
    after = requests.get(f"{stack.url}/api/jobs", timeout=10).json()
    assert after["total"] == before["total"]
    assert {j["id"]: j["state"] for j in after["jobs"]} == {
        j["id"]: j["state"] for j in before["jobs"]}
    first = done[-1]
    output = first["renditions"][0]["output"]
    answer = requests.get(f"{stack.url}/api/jobs/{first['id']}/outputs/{output}", timeout=30)
    assert answer.status_code == 200 and answer.content[4:8] == b"ftyp"
