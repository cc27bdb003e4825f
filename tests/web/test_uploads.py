"""Upload validation and streaming: bad input is a 400/413 sentence and leaves no file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from common.storage import LocalStorage
from tests.support.files import uploads_dir
from tests.support.workers import RecordingProducer
from tests.web.helpers import upload
from web import uploads
from web.context import web_context
from web.errors import ApiError


def _leftovers(app: Flask) -> list[str]:
    directory = uploads_dir(web_context(app).settings)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _error(response: object, status: int) -> str:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.mimetype == "application/json"  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    return str(body["error"])


def test_unknown_profile_is_400_and_removes_the_file(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    message = _error(upload(client, profiles="720p,4k"), 400)
    assert message.startswith("Unknown profile 4k")
    assert "1080p" in message
    assert _leftovers(app) == []
    assert producer.sent == []


def test_bad_mode_is_400(app: Flask, client: FlaskClient) -> None:
    assert "Mode must be" in _error(upload(client, mode="transcode"), 400)
    assert _leftovers(app) == []


def test_huge_field_is_400(app: Flask, client: FlaskClient) -> None:
    message = _error(upload(client, profiles="720p," * 2000), 400)
    assert "'profiles' is larger than" in message
    assert _leftovers(app) == []


def test_too_many_form_parts_is_a_400_that_says_so(app: Flask, client: FlaskClient) -> None:
    fields = {f"extra{i}": "x" for i in range(uploads.MAX_PARTS + 1)}
    message = _error(upload(client, **fields), 400)
    assert message.startswith(f"The form has more than {uploads.MAX_PARTS} parts")
    assert "MiB" not in message
    assert _leftovers(app) == []


def test_missing_empty_and_extra_files_are_400(app: Flask, client: FlaskClient) -> None:
    no_file = client.post("/api/jobs", data={"mode": "encode"}, content_type="multipart/form-data")
    assert "multipart field 'file'" in _error(no_file, 400)
    assert "empty" in _error(upload(client, content=b""), 400)
    two = client.post("/api/jobs", content_type="multipart/form-data", data={
        "file": [(io.BytesIO(b"a" * 10), "a.mp4"), (io.BytesIO(b"b" * 10), "b.mp4")]})
    assert "exactly one file" in _error(two, 400)
    other = client.post("/api/jobs", content_type="multipart/form-data",
                        data={"video": (io.BytesIO(b"a" * 10), "a.mp4")})
    assert "Unexpected file field" in _error(other, 400)
    assert _leftovers(app) == []


def test_not_multipart_and_malformed_are_400(app: Flask, client: FlaskClient) -> None:
    text = client.post("/api/jobs", data="x", content_type="text/plain")
    assert "multipart/form-data with the video in 'file', or a JSON" in _error(text, 400)
    assert "Unknown field 'file'" in _error(client.post("/api/jobs", json={"file": "x"}), 400)
    garbage = client.post("/api/jobs", data=b"--zz\r\nnot a part",
                          content_type="multipart/form-data; boundary=zz")
    assert "malformed" in _error(garbage, 400)
    assert _leftovers(app) == []


def test_over_limit_is_413_with_no_partial_file(app: Flask, client: FlaskClient) -> None:
    big = b"\x01" * (1024 * 1024 + 10)  # the app fixture allows 1 MiB
    message = _error(upload(client, content=big), 413)
    assert message == "The upload is larger than 1 MiB."
    assert _leftovers(app) == []


def test_content_length_over_limit_is_refused_before_reading(client: FlaskClient) -> None:
    response = client.post("/api/jobs", data=b"x", content_type="multipart/form-data; boundary=b",
                           environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)})
    assert "larger than 1 MiB" in _error(response, 413)


def test_the_app_never_buffers_the_upload(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the upload must be streamed, not parsed into request.files")

    monkeypatch.setattr(Request, "files", property(forbidden))
    monkeypatch.setattr(Request, "form", property(forbidden))
    monkeypatch.setattr(Request, "get_data", forbidden)
    monkeypatch.setattr(Request, "_load_form_data", forbidden)
    monkeypatch.setattr(FileStorage, "read", forbidden, raising=False)
    body = _multipart(b"\x02" * (600 * 1024))
    response = client.post("/api/jobs", data=body,
                           content_type="multipart/form-data; boundary=BOUND")
    assert response.status_code == 202
    assert response.get_json()["size_bytes"] == 600 * 1024


class RecordingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size > 0, "read() of the whole body"
        self.sizes.append(size)
        return super().read(size)


def _multipart(payload: bytes, boundary: str = "BOUND") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nencode\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.MKV\"\r\nContent-Type: video/x-matroska\r\n\r\n").encode() + payload + (
            f"\r\n--{boundary}--\r\n").encode()


def test_receive_upload_reads_in_bounded_chunks(tmp_path: Path) -> None:
    payload = bytes(range(256)) * (4 * 4096 + 7)  # ~4 MiB, several chunks
    stream = RecordingStream(_multipart(payload))
    result = uploads.receive_upload(stream, "multipart/form-data; boundary=BOUND",
                                    LocalStorage(tmp_path),
                                    "abc", max_file_bytes=8 * 1024 * 1024)
    assert result.file_name == "abc.mkv"
    assert (tmp_path / "uploads" / "abc.mkv").read_bytes() == payload
    assert result.fields == {"mode": "encode"}
    assert result.original_name == "a.MKV"
    assert len(stream.sizes) >= 4
    assert max(stream.sizes) == uploads.CHUNK


def test_receive_upload_over_limit_leaves_nothing(tmp_path: Path) -> None:
    stream = RecordingStream(_multipart(b"z" * (3 * uploads.CHUNK)))
    with pytest.raises(RequestEntityTooLarge):
        uploads.receive_upload(stream, "multipart/form-data; boundary=BOUND",
                               LocalStorage(tmp_path), "abc",
                               max_file_bytes=uploads.CHUNK)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_receive_upload_truncated_body_leaves_nothing(tmp_path: Path) -> None:
    body = _multipart(b"y" * 5000)[:-30]
    with pytest.raises(ApiError) as info:
        uploads.receive_upload(io.BytesIO(body), "multipart/form-data; boundary=BOUND",
                               LocalStorage(tmp_path), "abc", max_file_bytes=10**6)
    assert info.value.code == 400
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(("name", "suffix"), [
    ("a.MP4", ".mp4"), ("a.tar.gz", ".gz"), ("noext", ""), ("a.mp4;x", ""), ("a.ümlaut", ""),
    (".hidden", ""), ("a." + "x" * 11, ""),
])
def test_safe_suffix(name: str, suffix: str) -> None:
    assert uploads.safe_suffix(name) == suffix


def test_display_name_strips_directories_and_controls() -> None:
    assert uploads.display_name("C:\\Users\\me\\take1.mov") == "take1.mov"
    assert uploads.display_name("../../x\x00y.mp4") == "xy.mp4"
    assert uploads.display_name("") == "upload"
    assert len(uploads.display_name("a" * 1000)) == 255
