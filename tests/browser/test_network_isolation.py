"""The browser under test is out of reach of this machine's interface changes: while links are
added and removed here (as podman and the multihost tests do beside it), page loads and the
live socket go on without one request failing."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support import hosts
from tests.support.web import WebProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

RELOADS = 12


@contextlib.contextmanager
def flapping_links() -> Iterator[list[int]]:
    """Add, address, raise and delete a veth pair in this machine's namespace, over and over,
    until the block ends; yields the running count of pairs made."""
    why_not = hosts.available()
    if why_not is not None:
        pytest.skip(f"links cannot be made here: {why_not}")
    made = [0]
    stop = threading.Event()
    link = f"ffcflap{secrets.token_hex(2)}"

    def flap() -> None:
        while not stop.is_set():
            hosts.ip("link", "add", f"{link}a", "type", "veth", "peer", "name", f"{link}b")
            hosts.ip("addr", "add", "198.51.100.7/32", "dev", f"{link}a")
            hosts.ip("link", "set", f"{link}a", "up")
            hosts.ip("link", "set", f"{link}b", "up")
            hosts.ip("link", "del", f"{link}a")
            made[0] += 1

    thread = threading.Thread(target=flap, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        stop.set()
        thread.join(timeout=30)
        hosts.ip("link", "del", f"{link}a", check=False)
    assert f"{link}a" not in hosts.ip("-o", "link", "show").stdout


def test_page_loads_survive_links_coming_and_going_on_this_machine(
        page: Page, web: WebProcess) -> None:
    failed: list[str] = []  # a reload aborts what the last page still had in flight: not counted
    page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED"
            else failed.append(f"{r.failure} {r.url}"))
    with flapping_links() as made:
        for _ in range(RELOADS):
            page.goto(web.url)
            expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                                  timeout=15_000)
    assert made[0] >= RELOADS, "the links did not change often enough to prove anything"
    assert failed == []
