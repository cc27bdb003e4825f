"""Resumable uploads, tus 1.0 (core, creation, termination, checksum, expiration).

``POST /api/uploads`` creates an upload (its id is its future job's id) and answers its
``Location``; ``PATCH`` appends at ``Upload-Offset``; ``HEAD`` says how far it got; the
PATCH that brings the last byte turns the upload into a job exactly as a multipart POST
does (same limits, options and storage) and answers its id in ``FFcluster-Job-Id``.
Nothing here reads more than one block of a body into memory.
"""

from __future__ import annotations

import errno
import logging
import secrets
import time
from typing import IO, Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import ClientDisconnected

from common.jobs import Job, new_job_id
from common.resumable import PartialUpload, ResumableStore, ResumableUpload, partial_upload
from common.storage import StorageError, upload_key
from web import actions, tus_headers
from web.auth import require_token
from web.context import WebContext, web_context
from web.errors import ApiError
from web.uploads import CHUNK, body_stream, display_name, safe_suffix

log = logging.getLogger(__name__)

bp = Blueprint("tus", __name__, url_prefix="/api/uploads")
JOB_ID_HEADER = "FFcluster-Job-Id"
METADATA_KEYS = ("filename", *actions.JOB_OPTIONS)


@bp.before_request
def check_token() -> None:
    require_token(web_context().settings.api_token)
    if request.method != "OPTIONS":
        tus_headers.check_version(request)


def _answer(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers={**tus_headers.protocol_headers(), **(headers or {})})


def _limit(ctx: WebContext) -> int:
    return ctx.settings.max_upload_mb * 1024 * 1024


def _job_for(ctx: WebContext, upload_id: str, meta: dict[str, str], size: int) -> Job:
    """The job an upload's metadata asks for (400 with a sentence for a bad option)."""
    name = meta.get("filename", "upload")
    return Job(id=upload_id, source_name=display_name(name),
               source_file=upload_id + safe_suffix(name), size_bytes=size,
               **actions.job_options(ctx, meta))


@bp.route("", methods=["OPTIONS"])
def discover() -> Response:
    return _answer(204, tus_headers.discovery_headers(_limit(web_context())))


@bp.post("")
def create() -> Response:
    ctx = web_context()
    length = tus_headers.whole_number(request, "Upload-Length")
    if length > _limit(ctx):
        raise ApiError(413, f"The upload is larger than {ctx.settings.max_upload_mb} MiB.")
    if length == 0:
        raise ApiError(400, "The upload is empty; send a video.")
    meta = tus_headers.metadata(request, METADATA_KEYS)
    upload_id = new_job_id()
    job = _job_for(ctx, upload_id, meta, length)  # refuse bad options before a byte is sent
    now = time.time()
    upload = ResumableUpload(upload_id, length, meta, now,
                             now + ctx.settings.upload_expiry_h * 3600, job.source_file)
    ResumableStore(ctx.redis).create(upload)
    log.info("resumable upload %s created (%d bytes)", upload_id, length)
    return _answer(201, {"Location": f"{request.host_url.rstrip('/')}/api/uploads/{upload_id}",
                         **tus_headers.expires_header(upload.expires_at)})


def _live(ctx: WebContext, store: ResumableStore, upload_id: str) -> ResumableUpload:
    """The upload, or 404; an expired one is removed on sight."""
    upload = store.get(upload_id)
    if upload is not None and upload.expired:
        partial_upload(ctx.storage, store, upload).remove()
        store.delete(upload_id)
        upload = None
    if upload is None:
        raise ApiError(404, f"No unfinished upload has the id {upload_id!r} (it may have "
                            "expired); start a new one.")
    return upload


def _state_headers(upload: ResumableUpload, offset: int) -> dict[str, str]:
    headers = {"Upload-Offset": str(offset), "Upload-Length": str(upload.length)}
    if upload.job_id:
        headers[JOB_ID_HEADER] = upload.job_id
    else:
        headers.update(tus_headers.expires_header(upload.expires_at))
    return headers


@bp.route("/<upload_id>", methods=["HEAD"])
def status(upload_id: str) -> Response:
    ctx = web_context()
    store = ResumableStore(ctx.redis)
    upload = _live(ctx, store, upload_id)
    offset = upload.length if upload.job_id else partial_upload(ctx.storage, store,
                                                                upload).size()
    return _answer(200, _state_headers(upload, offset))


def _append(partial: PartialUpload, body: IO[bytes], room: int, digest: Any) -> int:
    """Copy the body into the session; return its bytes (400 past ``Upload-Length``)."""
    received = 0
    while block := body.read(CHUNK):
        received += len(block)
        if received > room:
            raise ApiError(400, "The PATCH body goes past Upload-Length; nothing of it "
                                "was kept.")
        if digest is not None:
            digest[0].update(block)
        partial.write(block)
    return received


def _write(partial: PartialUpload, upload: ResumableUpload, offset: int) -> int:
    """Append this PATCH's body at ``offset``; return the new offset. What a dropped
    connection delivered is kept (the client resumes after it) unless a checksum was sent."""
    digest = tus_headers.checksum(request)
    start = partial.begin()
    if start != offset:
        partial.drop()
        raise ApiError(409, f"The upload is at byte {start}, not {offset}; ask HEAD "
                            "for Upload-Offset and send from there.")
    try:
        _append(partial, body_stream(), upload.length - start, digest)
    except ClientDisconnected:
        if digest is not None:
            partial.drop()
        else:
            partial.keep()
        raise ApiError(400, "The connection closed before the PATCH body ended.") from None
    except OSError as exc:
        partial.drop()
        if exc.errno == errno.ENOSPC:
            raise ApiError(507, "The server has no space left to store this upload; "
                                "nothing of this PATCH was kept.") from None
        raise
    except (ApiError, StorageError):
        partial.drop()
        raise
    if digest is not None and digest[0].digest() != digest[1]:
        partial.drop()
        raise ApiError(tus_headers.CHECKSUM_MISMATCH, "Upload-Checksum does not match the "
                                                      "bytes sent; they were discarded.")
    return partial.keep()


def _finish(ctx: WebContext, store: ResumableStore, upload: ResumableUpload,
            partial: PartialUpload) -> None:
    """The last byte arrived: the bytes become the job's source, and the job starts."""
    try:
        job = _job_for(ctx, upload.id, upload.metadata, upload.length)
    except ApiError:
        partial.remove()
        store.delete(upload.id)
        raise
    partial.finish()
    existing = actions.existing_job(ctx, job)
    if existing is not None:  # its idempotency key made a job meanwhile: no second one
        ctx.storage.remove(upload_key(job.source_file))
        store.finished(upload, existing.id)
        return
    store.finished(upload, job.id)
    actions.submit(ctx, job)


@bp.patch("/<upload_id>")
def append(upload_id: str) -> Response:
    ctx = web_context()
    if request.mimetype != tus_headers.OFFSET_CONTENT_TYPE:
        raise ApiError(415, f"A PATCH body must be sent as {tus_headers.OFFSET_CONTENT_TYPE}.")
    offset = tus_headers.whole_number(request, "Upload-Offset")
    store = ResumableStore(ctx.redis)
    token = secrets.token_hex(8)
    if not store.lock(upload_id, token):
        raise ApiError(423, "Another PATCH is writing this upload now; send again after it "
                            "ends.")
    try:
        upload = _live(ctx, store, upload_id)  # read under the lock: the last PATCH's state
        if upload.job_id:
            raise ApiError(409, f"The upload is complete; it became job {upload.job_id}.")
        partial = partial_upload(ctx.storage, store, upload)
        new_offset = _write(partial, upload, offset)
        if new_offset == upload.length:
            _finish(ctx, store, upload, partial)
    except StorageError as exc:
        raise ApiError(503, f"The upload cannot be stored now: {exc}") from None
    finally:
        store.unlock(upload_id, token)
    return _answer(204, _state_headers(upload, new_offset))


@bp.delete("/<upload_id>")
def terminate(upload_id: str) -> Response:
    ctx = web_context()
    store = ResumableStore(ctx.redis)
    upload = _live(ctx, store, upload_id)
    if upload.job_id is None:
        partial_upload(ctx.storage, store, upload).remove()
    store.delete(upload_id)  # a finished upload's job keeps its source
    return _answer(204)
