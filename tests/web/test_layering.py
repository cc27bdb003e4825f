"""The web tier never blocks: no subprocesses, no waiting on results (imports: test_layering)."""

from __future__ import annotations

from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
MODULES = sorted(WEB.rglob("*.py"))


def test_there_are_modules() -> None:
    assert len(MODULES) >= 10


def test_no_blocking_calls_in_web() -> None:
    for path in MODULES:
        text = path.read_text()
        for needle in ("subprocess", "ffprobe(", ".get(timeout", "AsyncResult", "time.sleep("):
            assert needle not in text, f"{path.name} uses {needle}"
