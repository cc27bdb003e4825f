"""The tus 1.0 headers: what the server says it speaks, and the request headers it reads.

Every malformed header is a 400 with a sentence (a tus client shows it to its user).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from email.utils import formatdate
from typing import Any

from flask import Request

from web.errors import ApiError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CHECKSUM_MISMATCH = 460
"""The tus checksum extension's status for a PATCH whose body does not match its checksum."""
MAX_METADATA_BYTES = 4096
MAX_OFFSET_DIGITS = 18
BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
METADATA_KEY = r"[!-+\--~]+"
METADATA_PATTERN = rf"^({METADATA_KEY}( {BASE64})?)?(,{METADATA_KEY}( {BASE64})?)*$"
"""``Upload-Metadata`` as tus defines it: ``key base64,key base64`` (keys without spaces or
commas); the OpenAPI document states the same pattern."""


def protocol_headers() -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}


def discovery_headers(max_bytes: int) -> dict[str, str]:
    """What ``OPTIONS /api/uploads`` answers: versions, extensions, limits."""
    return {**protocol_headers(), "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(max_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)}


def expires_header(when: float) -> dict[str, str]:
    return {"Upload-Expires": formatdate(when, usegmt=True)}


def check_version(request: Request) -> None:
    """Every request but OPTIONS names the protocol version it speaks."""
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise ApiError(412, f"Send 'Tus-Resumable: {TUS_VERSION}': this server speaks tus "
                            f"{TUS_VERSION} only.")


def whole_number(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > MAX_OFFSET_DIGITS:
        raise ApiError(400, f"The {name} header must be a whole number of bytes.")
    return int(raw)


def metadata(request: Request, known: tuple[str, ...]) -> dict[str, str]:
    """``Upload-Metadata: filename ZmlsZS5tcDQ=,profiles NzIwcA==``: the ``known`` keys as
    text (other keys a client adds are ignored; tus lets values be any bytes)."""
    raw = request.headers.get("Upload-Metadata", "")
    if len(raw) > MAX_METADATA_BYTES:
        raise ApiError(400, f"Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes.")
    if not re.fullmatch(METADATA_PATTERN, raw.strip()):
        raise ApiError(400, "Upload-Metadata must be comma-separated 'key base64' pairs.")
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        key, _, value = item.partition(" ")
        if key not in known:
            continue
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, f"Upload-Metadata {key!r} is not base64 of UTF-8 "
                                "text.") from None
    return pairs


def checksum(request: Request) -> tuple[Any, bytes] | None:
    """``Upload-Checksum: sha1 <base64>`` as (a fresh hash object, the expected digest)."""
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ApiError(400, f"Upload-Checksum algorithm {algorithm[:20]!r} is not supported; "
                            f"use one of {', '.join(CHECKSUM_ALGORITHMS)}.")
    try:
        expected = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise ApiError(400, "Upload-Checksum's digest is not base64.") from None
    return hashlib.new(algorithm), expected
