"""Small helpers shared by the web tests."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CLIP_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def upload(
    client: FlaskClient,
    content: bytes = CLIP_BYTES,
    filename: str = "clip.mp4",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> TestResponse:
    """POST a multipart upload to /api/jobs through the test client."""
    data: dict[str, Any] = dict(fields)
    data["file"] = (io.BytesIO(content), filename)
    return client.post("/api/jobs", data=data, content_type="multipart/form-data",
                       headers=headers or {})
