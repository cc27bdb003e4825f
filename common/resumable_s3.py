"""Resumable uploads in ``s3`` storage: one multipart upload to the final key, across PATCHes
and web replicas.

Parts must be at least 5 MiB (but the last), while a PATCH may bring any number of bytes.
So whole parts of ``FFCLUSTER_S3_PART_MB`` go up as they fill; what is left at the end of a
PATCH (less than a part) is kept as a small tail object beside the uploads and put in
front of the next PATCH's bytes. The multipart upload's id and its parts so far are in the
upload's record; a dropped PATCH leaves them as the last kept PATCH wrote them (a part
sent after that is replaced when its number is sent again). The last PATCH sends the tail
as the last part and completes the upload: the source appears whole, at once.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.resumable import PARTIAL_DIR, PartialUpload, ResumableStore, ResumableUpload
from common.s3 import S3Storage, S3Writer
from common.storage import Storage, StorageError, upload_key

log = logging.getLogger(__name__)


class S3Partial(PartialUpload):
    def __init__(self, storage: Storage, store: ResumableStore,
                 upload: ResumableUpload) -> None:
        assert isinstance(storage, S3Storage)
        self.storage, self.store, self.upload = storage, store, upload
        self.tail_key = storage.object_key(f"{PARTIAL_DIR}/{upload.id}.tail")
        self.writer: S3Writer | None = None

    @property
    def _state(self) -> dict[str, Any]:
        return self.upload.storage_state

    def size(self) -> int:
        return int(self._state.get("size", 0))

    def _client(self) -> Any:
        return self.storage.client

    def _fail(self, exc: Exception, doing: str) -> StorageError:
        return self.storage.failure(exc, doing)

    def _writer(self) -> S3Writer:
        """The multipart upload to the final key, as the record left it."""
        writer = self.storage.writer(upload_key(self.upload.file_name))
        writer.upload_id = self._state.get("upload_id")
        return writer

    def begin(self) -> int:
        writer = self._writer()
        writer.parts = [dict(part) for part in self._state.get("parts", [])]
        if self._state.get("tail", 0):
            try:
                body = self._client().get_object(Bucket=self.storage.bucket, Key=self.tail_key)
                writer.buffer += body["Body"].read()
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, "reading an upload's tail") from None
        self.writer = writer
        return self.size()

    def write(self, block: bytes) -> None:
        assert self.writer is not None
        self.writer.write(block)

    def keep(self) -> int:
        writer = self.writer
        assert writer is not None
        sent = len(writer.parts) * writer.part_bytes  # every part but the last is whole
        try:
            self._client().put_object(Bucket=self.storage.bucket, Key=self.tail_key,
                                      Body=bytes(writer.buffer))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "storing an upload's tail") from None
        self.upload.storage_state = {"upload_id": writer.upload_id, "parts": writer.parts,
                                     "tail": len(writer.buffer),
                                     "size": sent + len(writer.buffer)}
        self.store.save(self.upload)
        return self.size()

    def drop(self) -> None:
        self.writer = None  # the record still names the parts and tail of the last kept PATCH

    def finish(self) -> None:
        writer = self.writer
        assert writer is not None, "finish follows keep in the same PATCH"
        writer.commit()  # the tail as the last part, then the whole object at once
        self._delete_tail()

    def _delete_tail(self) -> None:
        try:
            self._client().delete_object(Bucket=self.storage.bucket, Key=self.tail_key)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not delete the tail of upload %s: %s", self.upload.id, exc)

    def remove(self) -> None:
        self._writer().abort()  # nothing to abort before the first whole part
        self._delete_tail()
