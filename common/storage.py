"""Where uploads and outputs are kept: the data directory, or an S3-compatible bucket.

Every tier names stored files by *key*, a relative path in one tree that is the same in
both modes: ``uploads/<file>`` for sources and ``outputs/<job id>/<name>`` for what a
job produces. In ``local`` mode the tree is the data directory and a worker works in it
directly, as it always did. In ``s3`` mode the tree is the bucket under a prefix, and a
worker works in a private :class:`Workspace` in its scratch directory: it fetches what it
reads, runs FFmpeg on local files only, and publishes each verified output as a whole.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Protocol

from common.settings import Settings

log = logging.getLogger(__name__)

UPLOADS = "uploads"
OUTPUTS = "outputs"

Guard = Callable[[], bool]
"""Asked before and while an output is published: False means the work is no longer ours."""


class StorageError(Exception):
    """A transfer to or from the object store failed; the message is a sentence."""


class StorageUnavailable(StorageError):
    """The configured storage cannot be used at all (the start-up check)."""


class PublishAborted(Exception):
    """The guard said the work passed to another worker; nothing more was published."""


def upload_key(file_name: str) -> str:
    return f"{UPLOADS}/{file_name}"


def output_key(job_id: str, name: str = "") -> str:
    return f"{OUTPUTS}/{job_id}/{name}".rstrip("/")


OUTPUT_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
                        ".m4s": "video/iso.segment", ".mp4": "video/mp4", ".jpg": "image/jpeg"}
"""The types players need, named here rather than left to the host's mime.types."""


def content_type(key: str) -> str:
    """The Content-Type a stored file is served and uploaded with."""
    suffix = PurePosixPath(key).suffix.lower()
    return (OUTPUT_CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0]
            or "application/octet-stream")


def checked_key(key: str) -> str:
    """Return ``key`` if it is a relative path that stays inside the tree."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("..", ".") for p in parts):
        raise ValueError(f"{key!r} is not a storage key")
    return key


class ObjectWriter(Protocol):
    """A file being stored: written in order, then committed whole or aborted."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Workspace(ABC):
    """The local files one worker task works on, and the way they reach the store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    @abstractmethod
    def fetch(self, key: str) -> Path:
        """Make the stored file ``key`` a local file; return its path."""

    @abstractmethod
    def publish(self, key: str, guard: Guard | None = None) -> None:
        """Store the local file ``key`` whole (readers never see part of it)."""

    def publish_tree(self, key: str, guard: Guard | None = None) -> None:
        """Store every file under the local folder ``key``, playlists last."""
        folder = self.path(key)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.suffix == ".m3u8")
        for file in files:
            self.publish(f"{key}/{file.relative_to(folder).as_posix()}", guard)

    @abstractmethod
    def remove_tree(self, key: str) -> None:
        """Remove the stored files under ``key`` and their local copies."""


class Storage(ABC):
    """One place files are kept, shared by the web tier and every worker."""

    kind: str

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`StorageUnavailable` with a sentence when the store cannot be used."""

    @abstractmethod
    def writer(self, key: str) -> ObjectWriter:
        """Start storing a new file ``key`` (an upload)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def remove(self, key: str) -> None: ...

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every stored key under ``prefix`` (tests, retention, operators)."""

    @abstractmethod
    def remove_tree(self, prefix: str) -> None:
        """Remove every stored file under ``prefix``."""

    @abstractmethod
    def workspace(self) -> contextlib.AbstractContextManager[Workspace]:
        """A worker task's workspace, removed when the task ends (s3) or the data dir."""

    def evict_cached(self, key: str) -> None:
        """Forget this worker's cached copy of ``key`` (a source it may fetch again)."""
        return None  # local storage caches nothing

    def cached_keys(self) -> list[str]:
        """The keys this worker host keeps cached copies of."""
        return []

    def clear_scratch(self) -> None:
        """Remove the workspaces of task processes that died without removing their own."""
        return None  # local storage has no scratch


class LocalWorkspace(Workspace):
    """The data directory itself: nothing to fetch, outputs are in place once renamed."""

    def fetch(self, key: str) -> Path:
        return self.path(key)

    def publish(self, key: str, guard: Guard | None = None) -> None:
        if guard is not None and not guard():
            raise PublishAborted(key)

    def remove_tree(self, key: str) -> None:
        shutil.rmtree(self.path(key), ignore_errors=True)


class _LocalWriter:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.partial = final.with_name(f".{final.name}.part")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.partial.open("wb")

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.close()
        os.replace(self.partial, self.final)

    def abort(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)


class LocalStorage(Storage):
    """The data directory (``FFCLUSTER_STORAGE=local``): one filesystem every process sees."""

    kind = "local"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def path(self, key: str) -> Path:
        return self.data_dir / checked_key(key)

    def check(self) -> None:
        try:
            self.path(UPLOADS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"The data directory {self.data_dir} cannot be used: "
                                     f"{exc.strerror or exc}.") from None

    def writer(self, key: str) -> ObjectWriter:
        return _LocalWriter(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if base.is_file():
            return [prefix]
        return sorted(p.relative_to(self.data_dir).as_posix()
                      for p in base.rglob("*") if p.is_file())

    def remove_tree(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Workspace]:
        yield LocalWorkspace(self.data_dir)


def open_storage(settings: Settings) -> Storage:
    """The storage the settings name (the S3 client is imported only when it is used)."""
    if settings.storage == "s3":
        from common.s3 import S3Storage

        return S3Storage(settings)
    return LocalStorage(settings.data_dir)
