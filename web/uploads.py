"""Stream a multipart upload straight into storage, chunk by chunk, never whole into memory."""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import IO

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from common.storage import ObjectWriter, Storage, StorageError, upload_key
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

    storage: Storage
    file_name: str
    original_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.storage.remove(upload_key(self.file_name))


def body_stream() -> IO[bytes]:
    """Return the request body; chunked bodies come raw from servers that dechunk themselves.

    Werkzeug hides a body without Content-Length unless the server sets
    ``wsgi.input_terminated`` (eventlet's server does not, yet dechunks on read).
    """
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.content_length is None and chunked:
        return request.environ["wsgi.input"]  # type: ignore[no-any-return]
    return request.stream


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
        raise ApiError(400, "Send the upload as multipart/form-data with the video in 'file', "
                            "or a JSON body with its source_url.")
    return boundary.encode("latin-1")


class _Receiver:
    """Feed decoder events into a destination file and a dict of small text fields."""

    def __init__(self, storage: Storage, stem: str, max_file_bytes: int) -> None:
        self.storage = storage
        self.stem = stem
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.part: Field | File | None = None
        self.field_data = bytearray()
        self.writer: ObjectWriter | None = None
        self.name: str | None = None
        self.complete = False
        self.filename = ""
        self.size = 0

    def start(self, part: Field | File) -> None:
        self.part = part
        self.field_data.clear()
        if isinstance(part, File) and part.name == FILE_FIELD:
            if self.name is not None:
                raise ApiError(400, "Send exactly one file per job in the 'file' field.")
            self.filename = part.filename or ""
            self.name = self.stem + safe_suffix(self.filename)
            self.writer = self.storage.writer(upload_key(self.name))

    def data(self, chunk: bytes, more: bool) -> None:
        part = self.part
        if isinstance(part, File) and part.name == FILE_FIELD and self.writer is not None:
            self.size += len(chunk)
            if self.size > self.max_file_bytes:
                raise RequestEntityTooLarge()
            self.writer.write(chunk)
            self.complete = not more
            return
        if isinstance(part, File):
            raise ApiError(400, f"Unexpected file field {part.name!r}; send the video as 'file'.")
        self.field_data.extend(chunk)
        if len(self.field_data) > MAX_FIELD_BYTES:
            name = part.name if part is not None else "?"
            raise ApiError(400, f"The form field {name!r} is larger than {MAX_FIELD_BYTES} bytes.")
        if not more and part is not None:
            self.fields[part.name] = self.field_data.decode("utf-8", "replace").strip()

    def commit(self) -> None:
        if self.writer is None or not self.complete:
            raise ApiError(400, "Send the video as a file in the multipart field 'file'.")
        if self.size == 0:
            raise ApiError(400, "The uploaded file is empty.")
        self.writer.commit()
        self.writer = None

    def cleanup(self) -> None:
        """Leave nothing behind: abort the file being stored (it never appears)."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.abort()


def _next_event(decoder: MultipartDecoder) -> object:
    """The decoder's next event; too many parts is a malformed form (400), not too large."""
    try:
        return decoder.next_event()
    except RequestEntityTooLarge:
        raise ApiError(400, f"The form has more than {MAX_PARTS} parts: send the video as "
                       "'file' and only the documented fields.") from None


def receive_upload(
    stream: IO[bytes], content_type: str | None, storage: Storage, stem: str, max_file_bytes: int
) -> Upload:
    """Parse ``stream`` as multipart, storing the ``file`` part as ``uploads/<stem><suffix>``.

    Raises :class:`ApiError` (400) for malformed forms, 507 when storage is full and 503
    when it cannot be reached, and :class:`RequestEntityTooLarge` (413) past
    ``max_file_bytes``; whichever, no partial file is left behind.
    """
    decoder = MultipartDecoder(boundary_of(content_type), max_parts=MAX_PARTS)
    receiver = _Receiver(storage, stem, max_file_bytes)
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
        receiver.commit()
    except ValueError as exc:
        receiver.cleanup()
        raise ApiError(400, "The multipart body is malformed.") from exc
    except OSError as exc:
        receiver.cleanup()
        if exc.errno == errno.ENOSPC:
            log.error("no space left for an upload (%s storage)", storage.kind)
            raise ApiError(507, "The server has no space left to store this upload; "
                           "nothing was kept. Try again later.") from None
        raise
    except StorageError as exc:
        receiver.cleanup()
        log.error("an upload could not be stored: %s", exc)
        raise ApiError(503, f"The upload could not be stored; nothing was kept: {exc}") from None
    except BaseException:
        receiver.cleanup()
        raise
    assert receiver.name is not None
    log.info("stored upload %s (%d bytes)", receiver.name, receiver.size)
    return Upload(storage, receiver.name, display_name(receiver.filename), receiver.size,
                  receiver.fields)
