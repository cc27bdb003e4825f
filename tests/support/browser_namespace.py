"""A network namespace for headless Chromium, so interfaces that other tests add and remove
on this machine (podman's bridges and veths, the multihost tests' links) never reach it.

Chromium aborts requests in flight with ``net::ERR_NETWORK_CHANGED`` whenever an address or
link of its network namespace changes; with the compose and multihost tests running beside the
browser tests, a page load failed that way about one fresh-clone run in four. In here the
browser sees only its own loopback and one veth pair that never changes (so it counts itself
online), and reaches the test servers on this machine's 127.0.0.1 through a SOCKS5 proxy whose
listening socket lives in the namespace and whose connections are made outside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import secrets
import shlex
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import hosts
from tests.support.socks_proxy import LoopbackSocksProxy

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
NAMESPACES = Path("/run/netns")
PREFIX = "ffcbr"
ORPHAN = re.compile(rf"^{PREFIX}(?P<pid>\d+)x[0-9a-f]+\b")
"""A browser namespace's name: the prefix, the pid of the test process that made it, a tag."""


@dataclass
class BrowserNamespace:
    name: str
    executable: Path
    """A launcher that runs the browser inside the namespace with the arguments it is given."""
    proxy: LoopbackSocksProxy

    @property
    def args(self) -> list[str]:
        """Chromium's switches that send every request, loopback included, via the proxy."""
        return [f"--proxy-server=socks5://127.0.0.1:{self.proxy.port}",
                "--proxy-bypass-list=<-loopback>"]


def _setns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path}) failed")


def _listen_inside(namespace: str) -> socket.socket:
    """A socket listening on 127.0.0.1 of ``namespace``, made by a thread that enters it (a
    socket stays in the namespace it was made in; this process's other threads never move)."""
    made: list[socket.socket | BaseException] = []

    def enter_and_listen() -> None:
        try:
            _setns(NAMESPACES / namespace)
            made.append(socket.create_server(("127.0.0.1", 0), backlog=64))
        except BaseException as exc:  # handed to the caller's thread
            made.append(exc)

    thread = threading.Thread(target=enter_and_listen, name=f"enter-{namespace}")
    thread.start()
    thread.join()
    [result] = made
    if isinstance(result, BaseException):
        raise result
    return result


def _remove_orphans() -> None:
    """Delete the namespaces of test runs that were killed before they could (their process
    is gone), so they do not pile up on a developer's machine."""
    for line in hosts.ip("netns", "list").stdout.splitlines():
        match = ORPHAN.match(line)
        if match and not Path(f"/proc/{match['pid']}").exists():
            log.info("removing the browser namespace %s of a test run that is gone", match[0])
            hosts.ip("netns", "del", match[0], check=False)


def _make_namespace(name: str) -> None:
    """The namespace: loopback up, and a veth pair with both ends inside (never touched again)
    so the browser sees a network link and counts itself online."""
    hosts.ip("netns", "add", name)
    hosts.ip("-n", name, "link", "set", "lo", "up")
    hosts.ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    hosts.ip("-n", name, "addr", "add", "192.0.2.1/30", "dev", "eth0")
    hosts.ip("-n", name, "addr", "add", "192.0.2.2/30", "dev", "eth1")
    hosts.ip("-n", name, "link", "set", "eth0", "up")
    hosts.ip("-n", name, "link", "set", "eth1", "up")


@contextlib.contextmanager
def browser_namespace(folder: Path, browser: str) -> Iterator[BrowserNamespace | None]:
    """The namespace, its proxy and launcher for ``browser``; None where namespaces cannot be
    made here (no root), and the browser then runs in this machine's own namespace."""
    why_not = hosts.available()
    if why_not is not None:
        log.warning("the browser shares this machine's network: %s", why_not)
        yield None
        return
    _remove_orphans()
    name = f"{PREFIX}{os.getpid()}x{secrets.token_hex(2)}"
    proxy: LoopbackSocksProxy | None = None
    try:
        _make_namespace(name)
        proxy = LoopbackSocksProxy(_listen_inside(name)).start()
        launcher = folder / f"{name}-chromium"
        launcher.write_text(f'#!/bin/sh\nexec ip netns exec {name} {shlex.quote(browser)} "$@"\n')
        os.chmod(launcher, 0o755)
        yield BrowserNamespace(name, launcher, proxy)
    finally:
        if proxy is not None:
            proxy.close()
        hosts.ip("netns", "del", name, check=False)
