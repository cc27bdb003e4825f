"""Serve a job's stored outputs, with range requests, from either kind of storage.

``s3`` outputs are streamed through the web tier rather than redirected to presigned
URLs: HLS playlists name their segments relatively, and a player that followed a
redirect would ask the bucket for every segment without a signature; the object store
is often not reachable from viewers at all; and the API token, CSP and logs stay the
same for both kinds of storage. Range and If-None-Match are passed to the store.
"""

from __future__ import annotations

from flask import Response, request, send_file, stream_with_context

from common.storage import LocalStorage, Storage, StorageError, content_type
from web.errors import ApiError


def serve_output(storage: Storage, key: str, *, attachment: bool) -> Response | None:
    """The response for output ``key``, or None when it does not exist."""
    if isinstance(storage, LocalStorage):
        path = storage.path(key)
        if not path.is_file():
            return None
        response = send_file(path, mimetype=content_type(key), conditional=True, max_age=0,
                             as_attachment=attachment)
        response.headers["Accept-Ranges"] = "bytes"
        return response
    from common.s3 import S3Storage  # imported only when s3 storage is in use

    assert isinstance(storage, S3Storage)
    try:
        stored = storage.open(key, request.headers.get("Range"),
                              request.headers.get("If-None-Match"))
    except StorageError as exc:
        raise ApiError(503, f"The output cannot be read from storage now: {exc}") from None
    if stored is None:
        return None
    response = Response(stream_with_context(stored.body), status=stored.status,
                        headers=stored.headers, direct_passthrough=True)
    if attachment:
        response.headers["Content-Disposition"] = f'attachment; filename="{key.rsplit("/")[-1]}"'
    response.headers["Cache-Control"] = "no-cache"
    return response
