"""Check for the system programs a command needs, with one sentence on how to install them."""

from __future__ import annotations

import shutil

from cli.errors import CliError

APT_PACKAGES = {"redis-server": "redis-server", "ffmpeg": "ffmpeg", "ffprobe": "ffmpeg"}
BREW_PACKAGES = {"redis-server": "redis", "ffmpeg": "ffmpeg", "ffprobe": "ffmpeg"}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def require(command: str, programs: list[str]) -> None:
    """Raise :class:`CliError` naming every program in ``programs`` that is not on PATH."""
    missing = [p for p in dict.fromkeys(programs) if shutil.which(p) is None]
    if not missing:
        return
    apt = sorted({APT_PACKAGES.get(p.rsplit("/", 1)[-1], p) for p in missing})
    brew = sorted({BREW_PACKAGES.get(p.rsplit("/", 1)[-1], p) for p in missing})
    verb = "is" if len(missing) == 1 else "are"
    raise CliError(
        f"`ffcluster {command}` needs {_join(missing)}, which {verb} not installed: run "
        f"`make setup`, or `sudo apt-get install {' '.join(apt)}` on Debian or Ubuntu, or "
        f"`brew install {' '.join(brew)}` on macOS."
    )
