"""A small client of the ffcluster REST API, used by ``submit`` and ``status``."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import requests

from cli.errors import CliError
from common.settings import Settings

TIMEOUT_S = 30.0


def default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


class MultipartFile(io.RawIOBase):
    """A ``multipart/form-data`` body read from disk as it is sent, with a known length."""

    def __init__(self, path: Path, fields: dict[str, str],
                 on_read: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode() for name, value in fields.items()
        )
        filename = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 ).encode()
        self._parts: list[BinaryIO] = [io.BytesIO(head), path.open("rb"),
                                       io.BytesIO(f"\r\n--{self.boundary}--\r\n".encode())]
        self._length = len(head) + path.stat().st_size + len(self._parts[2].getvalue())
        self._on_read = on_read
        self._position = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        chunks: list[bytes] = []
        wanted = size if size is not None and size >= 0 else self._length
        while self._parts and wanted > 0:
            chunk = self._parts[0].read(wanted)
            if not chunk:
                self._parts.pop(0).close()
                continue
            chunks.append(chunk)
            wanted -= len(chunk)
        data = b"".join(chunks)
        self._position += len(data)
        if self._on_read is not None and data:
            self._on_read(len(data))
        return data

    def close(self) -> None:
        for part in self._parts:
            part.close()
        self._parts = []
        super().close()


class ApiError(CliError):
    """The web tier answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, code=1)
        self.status = status


class ApiClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; turn connection failures and error answers into one sentence."""
        try:
            response = self.session.request(method, self.url + path,
                                            timeout=kwargs.pop("timeout", TIMEOUT_S), **kwargs)
        except requests.ConnectionError:
            raise CliError(f"Cannot reach the web tier at {self.url}: is `ffcluster up` (or "
                           "`ffcluster web`) running there? Use --url to point elsewhere."
                           ) from None
        except requests.RequestException as exc:
            raise CliError(f"The request to {self.url}{path} failed: {exc}.") from None
        if response.status_code >= 400:
            raise ApiError(f"{method} {path} answered {response.status_code}: "
                           f"{error_sentence(response)}", response.status_code)
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def submit_url(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        """Ask ``POST /api/jobs`` to fetch the source at ``url`` (a worker fetches it)."""
        body: dict[str, Any] = {"source_url": url, **fields}
        if "target_ssim" in body:  # a JSON number there, as the API documents it
            body["target_ssim"] = float(body["target_ssim"])
        return self.request("POST", "/api/jobs", json=body).json()

    def submit(self, path: Path, fields: dict[str, str],
               on_read: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Stream ``path`` to ``POST /api/jobs`` and return the job JSON."""
        with MultipartFile(path, fields, on_read) as body:
            response = self.request("POST", "/api/jobs", data=body,
                                    headers={"Content-Type": body.content_type}, timeout=None)
        return dict(response.json())


def error_sentence(response: requests.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:200] or response.reason
