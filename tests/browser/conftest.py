"""A small real cluster (Redis, one worker, one web process) and headless Debian Chromium."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from common.settings import Settings
from tests.support.browser_namespace import browser_namespace
from tests.support.media import make_clip
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def settings(gpu_settings: Settings) -> Settings:
    return gpu_settings


@pytest.fixture(scope="module")
def worker(gpu_worker: WorkerProcess) -> WorkerProcess:
    return gpu_worker


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[WebProcess]:
    process = start_web_with(settings, "threading")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    return make_clip(media_dir / "browser-clip.mp4", seconds=6, size="640x360")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium in a network namespace of its own (tests/support/browser_namespace.py)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (`make setup` installs Debian's chromium), so "
                    "the browser tests cannot run.")
    folder = tmp_path_factory.mktemp("browser")
    with browser_namespace(folder, CHROMIUM) as namespace, sync_playwright() as playwright:
        executable = CHROMIUM if namespace is None else str(namespace.executable)
        args = CHROMIUM_ARGS + ([] if namespace is None else namespace.args)
        instance = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=args)
        yield instance
        instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """A failed browser test's report carries its page's diary."""
    report = yield
    diary = getattr(item, "page_diary", None)
    if report.failed and diary is not None:
        report.sections.append(("the page's console and requests", "\n".join(diary.lines)))
    return report


class PageDiary:
    """What the page logged, asked for and was answered, with times; a failed test's report
    shows it, so a flake under load (a handshake never answered, say) leaves its evidence."""

    def __init__(self, page: Page) -> None:
        self.started = time.monotonic()
        self.lines: list[str] = []
        page.on("console", self._console)
        page.on("request", lambda r: self._note(f"-> {r.method} {r.url}"))
        page.on("response", lambda r: self._note(f"<- {r.status} {r.url}"))
        page.on("requestfailed", lambda r: self._note(f"!! {r.failure} {r.url}"))
        page.on("websocket", lambda ws: self._note(f"ws open {ws.url}"))

    def _note(self, text: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:7.3f}s {text}")

    def _console(self, message: ConsoleMessage) -> None:
        self._note(f"console.{message.type}: {message.text}")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    request.node.page_diary = PageDiary(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
