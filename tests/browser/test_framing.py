"""The dashboard refuses to be framed by another site (Cancel and Retry cannot be clickjacked)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.ports import free_port, wait_for
from tests.support.web import WebProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def other_site(web: WebProcess) -> Iterator[str]:
    """A page on another origin (another port) that frames the dashboard."""
    html = (f'<html><body><iframe id="f" src="{web.url}/" width="800" height="600">'
            "</iframe></body></html>").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_another_site_cannot_frame_the_dashboard(page: Page, other_site: str,
                                                 web: WebProcess) -> None:
    answered: list[int] = []
    page.on("response", lambda r: answered.append(r.status) if r.url == f"{web.url}/" else None)
    page.goto(other_site)
    wait_for(lambda: answered, timeout=15, message="the framed dashboard's response")
    assert answered == [200]  # served, then refused by the browser because of its headers
    frame = page.frame_locator("#f")
    assert frame.locator("#conn-badge").count() == 0
    [child] = [f for f in page.frames if f != page.main_frame]
    assert child.url != f"{web.url}/" or child.evaluate("document.body === null "
                                                        "|| document.body.innerHTML === ''")
