"""``ffcluster up`` as a user runs it: a whole cluster, restarts, Flower, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from cli import proctree
from tests.support.ports import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str
    flower_url: str
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> dict[str, proctree.Proc]:
        """Return the direct children of ``up`` by role (redis, worker, web, flower)."""
        found = {}
        for proc in proctree.descendants(self.process.pid):
            if proc.ppid != self.process.pid:
                continue
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ")
            for role, marker in (("redis", b"redis-server"), ("worker", b"cli.main worker"),
                                 ("web", b"cli.main web"), ("flower", b" flower ")):
                if marker in cmdline:
                    found[role] = proc
        return found

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO_ROOT,
                              env=self.env, capture_output=True, text=True, timeout=180)


def _workers_online(cluster: Cluster) -> int:
    assert cluster.process.poll() is None, cluster.log()[-4000:]
    return int(requests.get(f"{cluster.url}/api/health", timeout=2).json()["workers_online"])


def _start_cluster(root: Path, ladder_file: Path) -> Cluster:
    """Run ``ffcluster up`` as a user does; return once its web tier sees a worker online."""
    port, flower_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFCLUSTER_")}
    env.update(FFCLUSTER_PROFILES_FILE=str(ladder_file), FFCLUSTER_HEARTBEAT_S="0.5",
               FFCLUSTER_LEASE_S="3", FFCLUSTER_FFMPEG_NICE="0", PYTHONUNBUFFERED="1")
    log_path = root / "up.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", "--port", str(port), "--data-dir",
             str(root / "data"), "--workers", "1", "--gpu", "off", "--flower", "--flower-port",
             str(flower_port), "--grace", "15"],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    cluster = Cluster(process, log_path, f"http://127.0.0.1:{port}",
                      f"http://127.0.0.1:{flower_port}", {**env, "FFCLUSTER_PORT": str(port)})
    try:
        wait_for(lambda: _workers_online(cluster) >= 1, timeout=120, interval=0.2,
                 message="ffcluster up: web tier answering with a worker online")
    except BaseException:
        _stop_cluster(cluster)
        raise
    return cluster


def _stop_cluster(cluster: Cluster) -> None:
    """SIGTERM ``up`` if it still runs; SIGKILL whatever of its tree outlives the grace."""
    if cluster.process.poll() is not None:
        return
    tree = proctree.descendants(cluster.process.pid)
    cluster.process.send_signal(signal.SIGTERM)
    try:
        cluster.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        cluster.process.kill()
        cluster.process.wait()
    for proc in tree:
        if proctree.is_alive(proc):
            os.kill(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory, ladder_file: Path
             ) -> Iterator[list[Cluster]]:
    """The module's ``up`` clusters: one, unless a test stopped it and another came after."""
    started: list[Cluster] = []
    yield started
    for cluster in started:
        _stop_cluster(cluster)


@pytest.fixture
def cluster(clusters: list[Cluster], tmp_path_factory: pytest.TempPathFactory,
            ladder_file: Path) -> Cluster:
    """A running ``up`` cluster, shared by the module's tests; the SIGTERM test stops it, and
    a test ordered after that one gets a fresh cluster, so no test depends on running last."""
    if not clusters or clusters[-1].process.poll() is not None:
        clusters.append(_start_cluster(tmp_path_factory.mktemp("up"), ladder_file))
    return clusters[-1]


def test_dashboard_and_health_answer(cluster: Cluster) -> None:
    health = requests.get(f"{cluster.url}/api/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = requests.get(f"{cluster.url}/", timeout=5)
    assert page.status_code == 200 and "<html" in page.text.lower()
    wait_for(lambda: f"ffcluster is up: dashboard at {cluster.url}/" in cluster.log(),
             timeout=10, message="the dashboard address printed")
    redis_dir = Path(cluster.log().split("append-only file in ", 1)[1].split(")", 1)[0])
    assert redis_dir.name == "redis" and redis_dir.is_dir()


def test_submit_wait_json_encodes_a_clip(cluster: Cluster, clip: Path) -> None:
    result = cluster.cli("submit", str(clip), "--profiles", "144p", "--wait", "--json")
    assert result.returncode == 0, result.stderr[-3000:] + cluster.log()[-3000:]
    job = json.loads(result.stdout)
    assert job["state"] == "done" and job["source_name"] == clip.name
    assert [(r["profile"], r["state"]) for r in job["renditions"]] == [("144p", "done")]


def test_submit_wait_exits_1_when_the_job_fails(cluster: Cluster, tmp_path: Path) -> None:
    fake = tmp_path / "not-a-video.mp4"
    fake.write_text("this is text, not a video\n" * 50)
    result = cluster.cli("submit", str(fake), "--profiles", "144p", "--wait", "--json")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    job = json.loads(result.stdout)
    assert job["state"] == "failed" and "not a video file" in job["error"]


def test_status_lists_the_worker(cluster: Cluster) -> None:
    result = cluster.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert [w["gpu"] for w in status["workers"] if w["online"]] == [False]
    assert set(status["queues"]) == {"cpu", "gpu"}
    assert status["warnings"] == []  # its private Redis runs with maxmemory-policy noeviction
    table = cluster.cli("status")
    assert table.returncode == 0 and "Workers" in table.stdout and "online" in table.stdout


def _flower_password(cluster: Cluster) -> str:
    line = wait_for(lambda: next((ln for ln in cluster.log().splitlines()
                                  if ln.startswith("Flower at ") and "password" in ln), None),
                    timeout=30, message="the generated Flower password printed")
    return line.split("password ", 1)[1].split(" ", 1)[0]


def test_flower_needs_the_printed_password_and_lists_the_worker(cluster: Cluster) -> None:
    worker_pid = cluster.children()["worker"].pid
    password = _flower_password(cluster)
    assert cluster.log().count(password) == 1  # printed once, logged nowhere else
    for path in ("/api/workers", "/api/tasks", "/"):
        answer = requests.get(f"{cluster.flower_url}{path}", timeout=10,
                              headers={"Origin": "http://evil.example"})
        assert answer.status_code == 401, path
    wrong = requests.get(f"{cluster.flower_url}/api/workers", auth=("ffcluster", "guess"),
                         timeout=10)
    assert wrong.status_code == 401

    def listed() -> bool:
        answer = requests.get(f"{cluster.flower_url}/api/workers", params={"refresh": "1"},
                              auth=("ffcluster", password), timeout=10)
        return answer.status_code == 200 and any(
            name.startswith(f"ffcluster-{worker_pid}@") for name in answer.json())

    wait_for(listed, timeout=60, interval=0.5, message="Flower listing the worker")


def test_no_secret_is_on_a_command_line_and_redis_needs_its_password(cluster: Cluster) -> None:
    password = _flower_password(cluster)
    children = cluster.children()
    redis_pid = children["redis"].pid
    argvs = {name: (Path("/proc") / str(child.pid) / "cmdline").read_bytes()
             for name, child in children.items()}
    environ = (Path("/proc") / str(children["worker"].pid) / "environ").read_bytes()
    url = next(v for v in environ.split(b"\0") if v.startswith(b"FFCLUSTER_REDIS_URL="))
    redis_password = url.split(b"://:", 1)[1].split(b"@", 1)[0]
    assert len(redis_password) >= 24
    for name, argv in argvs.items():
        assert password.encode() not in argv and redis_password not in argv, name
    assert redis_password.decode() not in cluster.log()
    port = int(url.rsplit(b":", 1)[1].split(b"/", 1)[0])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    assert redis.Redis(host="127.0.0.1", port=port, password=redis_password.decode()).ping()
    assert (Path("/proc") / str(redis_pid)).exists()


def test_killed_worker_is_replaced(cluster: Cluster) -> None:
    old = cluster.children()["worker"]
    os.kill(old.pid, signal.SIGKILL)
    wait_for(lambda: "worker exited with code -9; restarting" in cluster.log(), timeout=30,
             message="restart logged")

    def replaced() -> bool:
        new = cluster.children().get("worker")
        return new is not None and new.pid != old.pid and any(
            w["online"] and w["hostname"].startswith(f"ffcluster-{new.pid}@")
            for w in requests.get(f"{cluster.url}/api/workers", timeout=5).json()["workers"])

    wait_for(replaced, timeout=120, interval=0.2, message="a new worker online")
    assert not proctree.is_alive(old)


def test_sigterm_leaves_no_process(cluster: Cluster) -> None:
    tree = proctree.descendants(cluster.process.pid)
    groups = {p.pgid for p in tree}
    assert set(cluster.children()) == {"redis", "worker", "web", "flower"}
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(timeout=60) == 0, cluster.log()[-3000:]
    assert "every child stopped" in cluster.log()
    assert not [p for p in tree if proctree.is_alive(p)]
    assert not [p for p in proctree.all_procs() if p.pgid in groups and p.state != "Z"]
