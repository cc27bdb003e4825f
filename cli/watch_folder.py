"""What a watch folder does, apart from the command line: which files are ready, what
each one is called, and what became of it.

A file is *ready* once its size and modification time have not changed for the settle
time (a camera card copy or an scp still writing is left alone). Its *fingerprint* is
its size, modification time and a hash of its first and last MiB: a rename of the file
or of a folder above it keeps the fingerprint, so it is never submitted twice; the
fingerprint is the job's idempotency key, recorded in Redis by the web tier, so neither a
restart nor a second watcher submits it again either.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLE_BYTES = 1024 * 1024
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".download", ".filepart")


def fingerprint(path: Path) -> str:
    """``w1-<hex>``: size, mtime and the first and last MiB of the file, hashed."""
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:".encode())
    with path.open("rb") as stream:
        digest.update(stream.read(SAMPLE_BYTES))
        if stat.st_size > SAMPLE_BYTES:
            stream.seek(max(SAMPLE_BYTES, stat.st_size - SAMPLE_BYTES))
            digest.update(stream.read(SAMPLE_BYTES))
    return f"w1-{digest.hexdigest()[:48]}"


def is_candidate(path: Path, root: Path) -> bool:
    """Whether ``path`` could be a source: under ``root``, no hidden part, not a partial file."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return (bool(parts) and not any(part.startswith(".") for part in parts)
            and not parts[-1].lower().endswith(IGNORED_SUFFIXES))


def candidates(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` that could be a source (no hidden or partial files)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(folder) / name
            if is_candidate(path, root):
                yield path


@dataclass
class Settling:
    """Files seen but not yet ready, with the state they had when last looked at."""

    settle_s: float
    seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)

    def look(self, paths: Iterable[Path], now: float | None = None) -> list[Path]:
        """Note ``paths``; return those unchanged for the settle time (and forget them)."""
        now = time.monotonic() if now is None else now
        ready = []
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                self.seen.pop(path, None)
                continue
            state = (stat.st_size, stat.st_mtime_ns)
            before = self.seen.get(path)
            if before is None or before[:2] != state:
                self.seen[path] = (*state, now)
            elif now - before[2] >= self.settle_s and stat.st_size > 0:
                ready.append(path)
                del self.seen[path]
        return ready

    @property
    def waiting(self) -> list[Path]:
        return list(self.seen)


@dataclass
class Tracked:
    """A submitted file whose job has not yet ended (or whose outputs are not yet here)."""

    path: Path
    relative: Path
    job_id: str


def output_folder(out: Path, relative: Path) -> Path:
    """``OUT/<folders>/<file stem>/``: a file's outputs mirror where it was dropped."""
    return out / relative.parent / relative.stem
