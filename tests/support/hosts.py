"""Separate hosts on one machine: a network namespace and a folder of its own for each,
joined by veth links on one bridge. Traffic stays on that bridge: the test reaches the hosts
through the bridge's own address, and the hosts reach only each other.

Each host's folder is the only filesystem path its processes are given (their data and
scratch directories, logs kept beside them): no process ever sees another host's path.
Everything made here is removed on exit, even when the test fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run iproute2's ``ip`` with ``args``; its output comes back as text."""
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def available() -> str | None:
    """Why hosts cannot be made here (no root, no ``ip``), or None."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is missing: run `make setup`."
    probe = f"ffcprobe{secrets.token_hex(3)}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"network namespaces cannot be made here: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """One host: a network namespace with one link to the bridge, and its own folder."""

    name: str
    namespace: str
    address: str
    link: str
    """The bridge end of its veth pair (in the test's namespace)."""
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        """The prefix that runs a command on this host."""
        return ["ip", "netns", "exec", self.namespace]

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cut(self) -> None:
        """Take the host off the network (its link goes down), as a failed switch port would."""
        ip("link", "set", self.link, "down")

    def restore(self) -> None:
        ip("link", "set", self.link, "up")

    def throttle(self, rate: str) -> None:
        """Limit what the host sends to ``rate`` (``8mbit``), with tc's token bucket."""
        subprocess.run([*self.argv, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
                        "rate", rate, "burst", "32kbit", "latency", "400ms"], check=True)

    def unthrottle(self) -> None:
        subprocess.run([*self.argv, "tc", "qdisc", "del", "dev", "eth0", "root"], check=False,
                       capture_output=True)


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no address or route of this machine is in."""
    used = ip("-4", "route", "show").stdout + ip("-4", "addr", "show").stdout
    for _ in range(100):
        prefix = f"10.{secrets.randbelow(200) + 40}.{secrets.randbelow(250) + 1}."
        if prefix not in used:
            return ipaddress.IPv4Network(f"{prefix}0/24")
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test network")


class Network:
    """A bridge and its hosts; the test's own namespace holds the bridge's address."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tag = secrets.token_hex(2)
        self.bridge = f"ffc{self.tag}br"
        self.subnet = _free_subnet()
        self.hosts: dict[str, Host] = {}
        self.gateway = str(self.subnet.network_address + 254)

    def __enter__(self) -> Network:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add(self, name: str) -> Host:
        """Make host ``name`` (one letter) with the next address of the subnet."""
        number = len(self.hosts) + 1
        namespace, link, peer = (f"ffc{self.tag}{name}", f"ffc{self.tag}{name}0",
                                 f"ffc{self.tag}{name}1")
        address = str(self.subnet.network_address + number)
        host = Host(name, namespace, address, link, self.root / f"host-{name}")
        self.hosts[name] = host  # registered first, so a failure below is still cleaned up
        ip("netns", "add", namespace)
        ip("link", "add", link, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", namespace)
        ip("-n", namespace, "link", "set", peer, "name", "eth0")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("link", "set", link, "master", self.bridge)
        ip("link", "set", link, "up")
        host.root.mkdir(parents=True, exist_ok=True)
        return host

    def __exit__(self, *_: object) -> None:
        for host in self.hosts.values():
            for process in host.processes:  # each in its own session: the whole tree goes
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
            ip("link", "del", host.link, check=False)
            ip("netns", "del", host.namespace, check=False)
        ip("link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        """Links and namespaces of this network still present (empty after exit)."""
        links = ip("-o", "link", "show").stdout
        spaces = ip("netns", "list").stdout
        return [line for line in (links + spaces).splitlines() if f"ffc{self.tag}" in line]


@contextlib.contextmanager
def network(root: Path, names: str) -> Iterator[Network]:
    """A network with one host per letter of ``names``."""
    with Network(root) as net:
        for name in names:
            net.add(name)
        yield net
