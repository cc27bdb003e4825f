"""A real container engine for the deployment tests: Debian's podman serving the Docker API.

No image registry is reachable here, so the base image is built from Debian's packages
(debootstrap, minbase) and imported as ``debian:bookworm-slim``; its tarball is cached
outside the repository. Podman has no systemd timers here, so health checks are run by
:class:`HealthChecker` as the engine would run them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import wait_for
from tests.support.processes import stop_process

BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
CACHE_DIR = Path(os.path.expanduser("~/.cache/ffcluster"))
BASE_TARBALL = CACHE_DIR / "debian-bookworm-minbase.tar"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CONTAINERS_CONF = """[containers]
# The sandbox lacks CAP_SYS_RESOURCE: podman's default rlimits would fail at create.
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
# crun refuses this host's hybrid cgroups; runc runs on them.
runtime = "runc"

[network]
# netavark with aardvark-dns: containers resolve each other by service name.
network_backend = "netavark"
"""
REQUIRED = ("podman", "runc", "debootstrap", "docker-compose", "iptables")  # netavark runs iptables
NETAVARK = Path("/usr/lib/podman/netavark")


def missing_reason() -> str | None:
    """Why the container tests cannot run here, as a sentence; None when they can."""
    if os.geteuid() != 0:
        return "the container tests need root (podman, debootstrap) and this is not root"
    missing = [name for name in REQUIRED if shutil.which(name) is None]
    missing += [] if NETAVARK.exists() else ["netavark"]
    if missing:
        return (f"{', '.join(missing)} not installed (`make setup` installs them with apt-get "
                "on Debian)")
    return None


@dataclass
class Engine:
    """``podman system service`` on a private socket, and the environment to reach it."""

    root: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def socket(self) -> Path:
        return self.root / "podman.sock"

    def podman(self, *args: str, check: bool = True, timeout: float = 300,
               stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True,
                                input=stdin, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed: "
                               f"{result.stderr.decode(errors='replace')[-2000:]}")
        return result

    def stop(self) -> None:
        stop_process(self.process)


def start_engine() -> Engine:
    root = Path(tempfile.mkdtemp(prefix="ffcluster-podman-"))
    conf = root / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf),
           "DOCKER_HOST": f"unix://{root / 'podman.sock'}"}
    log = (root / "service.log").open("wb")
    process = subprocess.Popen(["podman", "system", "service", "--time=0",
                                f"unix://{root / 'podman.sock'}"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    engine = Engine(root, process, env)
    wait_for(lambda: engine.socket.exists() and engine.podman("info", check=False)
             .returncode == 0, timeout=30, message="podman system service on its socket")
    return engine


def ensure_base_image(engine: Engine) -> str:
    """Import ``debian:bookworm-slim`` from a cached debootstrap tarball (made once)."""
    if engine.podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return "already in the engine"
    how = "from the cached tarball"
    if not BASE_TARBALL.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ffcluster-rootfs-") as rootfs:
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs,
                            "http://deb.debian.org/debian"], check=True, capture_output=True,
                           timeout=600)
            # This network re-signs TLS with its own CA: pip inside builds needs the bundle.
            certs = Path(rootfs) / "usr/local/share/ca-certificates"
            certs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HOST_CA_BUNDLE, certs / "host-ca.crt")
            (Path(rootfs) / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HOST_CA_BUNDLE, Path(rootfs) / "etc/ssl/certs/ca-certificates.crt")
            for deb in (Path(rootfs) / "var/cache/apt/archives").glob("*.deb"):
                deb.unlink()
            partial = BASE_TARBALL.with_suffix(".part")
            subprocess.run(["tar", "-C", rootfs, "-cf", str(partial), "."], check=True)
            partial.replace(BASE_TARBALL)
        how = "built with debootstrap"
    engine.podman("import", "--change", f"ENV PIP_CERT={HOST_CA_BUNDLE}",
                  "--change", f"ENV SSL_CERT_FILE={HOST_CA_BUNDLE}",
                  "--change", 'CMD ["bash"]', str(BASE_TARBALL), BASE_IMAGE)
    return how


def open_published_ports(engine: Engine, project: str) -> None:
    """Let this host reach the project's published ports on 127.0.0.1.

    The engine publishes ports with a DNAT to the container; the kernel drops packets from
    127.0.0.1 that leave through a non-loopback interface unless ``route_localnet`` is on
    for it. Only the project's own bridge gets it, and it goes away with the bridge.
    """
    listed = engine.podman("network", "inspect", f"{project}_default")
    for network in json.loads(listed.stdout):
        interface = network.get("network_interface")
        if interface:
            Path(f"/proc/sys/net/ipv4/conf/{interface}/route_localnet").write_text("1")


def project_containers(engine: Engine, project: str) -> list[dict[str, object]]:
    result = engine.podman("ps", "-a", "--format", "json", "--filter",
                           f"label=com.docker.compose.project={project}", check=False)
    return list(json.loads(result.stdout or b"[]")) if result.returncode == 0 else []


class HealthChecker(threading.Thread):
    """Run every running container's health check every ``every_s``, as systemd would."""

    def __init__(self, engine: Engine, project: str, every_s: float = 2.0) -> None:
        super().__init__(name="healthchecks", daemon=True)
        self.engine, self.project, self.every_s = engine, project, every_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every_s):
            for container in project_containers(self.engine, self.project):
                if container.get("State") == "running":
                    self.engine.podman("healthcheck", "run", str(container["Id"]), check=False,
                                       timeout=30)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=40)


def remove_project(engine: Engine, project: str) -> None:
    """Remove every container, network and volume of ``project``, and their conmon."""
    for container in project_containers(engine, project):
        pid = int(str(container.get("Pid") or 0))
        engine.podman("rm", "-f", "-t", "0", str(container["Id"]), check=False)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for kind in ("network", "volume"):
        listed = engine.podman(kind, "ls", "-q", "--filter",
                               f"label=com.docker.compose.project={project}", check=False)
        for name in listed.stdout.decode().split():
            engine.podman(kind, "rm", "-f", name, check=False)
    for line in subprocess.run(["pgrep", "-a", "conmon"], capture_output=True,
                               text=True).stdout.splitlines():
        if project in line:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
