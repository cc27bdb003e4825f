"""Stream a multipart upload straight to disk, chunk by chunk, never whole into memory."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from web.errors import ApiError

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MAX_FIELD_BYTES = 4096
MAX_PARTS = 16
FORM_OVERHEAD = 1024 * 1024
"""Bytes of multipart framing and small fields allowed on top of the file itself."""
MAX_BUFFER = 2 * CHUNK + 64 * 1024
FILE_FIELD = "file"
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")


@dataclass
class Upload:
    """A finished upload: the stored file and the form's text fields."""

    path: Path
    original_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def safe_suffix(filename: str) -> str:
    """Return the lowercased extension of ``filename`` when it is short and alphanumeric."""
    suffix = PurePosixPath(filename).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ""


def display_name(filename: str) -> str:
    """Return the file name a user sees: no directories, no control characters, capped."""
    base = PureWindowsPath(PurePosixPath(filename).name).name
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "upload")[:255]


def boundary_of(content_type: str | None) -> bytes:
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise ApiError(400, "Send the upload as multipart/form-data with the video in 'file'.")
    return boundary.encode("latin-1")


class _Receiver:
    """Feed decoder events into a destination file and a dict of small text fields."""

    def __init__(self, directory: Path, stem: str, max_file_bytes: int) -> None:
        self.directory = directory
        self.stem = stem
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.part: Field | File | None = None
        self.field_data = bytearray()
        self.handle: IO[bytes] | None = None
        self.partial: Path | None = None
        self.final: Path | None = None
        self.filename = ""
        self.size = 0

    def start(self, part: Field | File) -> None:
        self.part = part
        self.field_data.clear()
        if isinstance(part, File) and part.name == FILE_FIELD:
            if self.partial is not None:
                raise ApiError(400, "Send exactly one file per job in the 'file' field.")
            self.filename = part.filename or ""
            name = self.stem + safe_suffix(self.filename)
            self.final = self.directory / name
            self.partial = self.directory / f".{name}.part"
            self.handle = self.partial.open("wb")

    def data(self, chunk: bytes, more: bool) -> None:
        part = self.part
        if isinstance(part, File) and part.name == FILE_FIELD and self.handle is not None:
            self.size += len(chunk)
            if self.size > self.max_file_bytes:
                raise RequestEntityTooLarge()
            self.handle.write(chunk)
            if not more:
                self.handle.close()
                self.handle = None
            return
        if isinstance(part, File):
            raise ApiError(400, f"Unexpected file field {part.name!r}; send the video as 'file'.")
        self.field_data.extend(chunk)
        if len(self.field_data) > MAX_FIELD_BYTES:
            name = part.name if part is not None else "?"
            raise ApiError(400, f"The form field {name!r} is larger than {MAX_FIELD_BYTES} bytes.")
        if not more and part is not None:
            self.fields[part.name] = self.field_data.decode("utf-8", "replace").strip()

    def cleanup(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        for path in (self.partial, self.final):
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _next_event(decoder: MultipartDecoder) -> object:
    """The decoder's next event; too many parts is a malformed form (400), not too large."""
    try:
        return decoder.next_event()
    except RequestEntityTooLarge:
        raise ApiError(400, f"The form has more than {MAX_PARTS} parts: send the video as "
                       "'file' and only the documented fields.") from None


def receive_upload(
    stream: IO[bytes], content_type: str | None, directory: Path, stem: str, max_file_bytes: int
) -> Upload:
    """Parse ``stream`` as multipart, writing the ``file`` part to ``directory/<stem><suffix>``.

    Raises :class:`ApiError` (400) for malformed forms and :class:`RequestEntityTooLarge`
    (413) past ``max_file_bytes``; either way no partial file is left behind.
    """
    decoder = MultipartDecoder(boundary_of(content_type), max_parts=MAX_PARTS)
    directory.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(directory, stem, max_file_bytes)
    total, limit = 0, max_file_bytes + FORM_OVERHEAD
    try:
        while True:
            chunk = stream.read(CHUNK)
            total += len(chunk)
            if total > limit:
                raise RequestEntityTooLarge()
            decoder.receive_data(chunk or None)
            event = _next_event(decoder)
            while not isinstance(event, Epilogue | NeedData):
                if isinstance(event, Field | File):
                    receiver.start(event)
                elif isinstance(event, Data):
                    receiver.data(event.data, event.more_data)
                event = _next_event(decoder)
            if len(decoder.buffer) > MAX_BUFFER:
                raise ApiError(400, "The multipart body is malformed.")
            if not chunk or isinstance(event, Epilogue):
                break
        if receiver.partial is None or receiver.final is None or receiver.handle is not None:
            raise ApiError(400, "Send the video as a file in the multipart field 'file'.")
        if receiver.size == 0:
            raise ApiError(400, "The uploaded file is empty.")
        os.replace(receiver.partial, receiver.final)
    except ValueError as exc:
        receiver.cleanup()
        raise ApiError(400, "The multipart body is malformed.") from exc
    except OSError as exc:
        receiver.cleanup()
        if exc.errno == errno.ENOSPC:
            log.error("no space left for an upload in %s", directory)
            raise ApiError(507, "The server has no space left to store this upload; "
                           "nothing was kept. Try again later.") from None
        raise
    except BaseException:
        receiver.cleanup()
        raise
    log.info("stored upload %s (%d bytes)", receiver.final.name, receiver.size)
    return Upload(receiver.final, display_name(receiver.filename), receiver.size, receiver.fields)
