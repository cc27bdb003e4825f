"""A real HTTP server on loopback that serves sources the way the internet does: whole
files, redirects, chunked bodies without a length, slow bodies, errors and short bodies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class SourceServer:
    """Routes: ``/files/<name>``, ``/redirect?to=URL``, ``/chunked?bytes=N``,
    ``/slow/<name>?seconds=S``, ``/status/<code>``, ``/short/<name>``."""

    root: Path
    url: str = ""
    requests: list[str] = field(default_factory=list)

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"


def _handler(server: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def _file(self, name: str) -> bytes:
            return (server.root / Path(name).name).read_bytes()

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            server.requests.append(self.path)
            kind, _, rest = parts.path.lstrip("/").partition("/")
            if kind == "files":
                self._send(200, self._file(rest), {"Content-Type": "video/mp4"})
            elif kind == "redirect":
                self._send(302, b"", {"Location": query["to"]})
            elif kind == "status":
                self._send(int(rest), b"no")
            elif kind == "short":
                body = self._file(rest)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) * 2))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True
            elif kind == "chunked":
                self._chunked([b"x" * 65536] * (int(query["bytes"]) // 65536))
            elif kind == "slow":
                body, seconds = self._file(rest), float(query.get("seconds", "2"))
                pieces = [body[i:i + 4096] for i in range(0, len(body), 4096)]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(seconds / len(pieces))
            else:
                self._send(404, b"unknown route")

        def _chunked(self, blocks: list[bytes]) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for block in blocks:
                self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def serve_sources(root: Path, host: str = "127.0.0.1") -> Iterator[SourceServer]:
    """Run a :class:`SourceServer` over the files in ``root`` until the block ends."""
    source = SourceServer(root)
    httpd = ThreadingHTTPServer((host, 0), _handler(source))
    httpd.daemon_threads = True
    source.url = f"http://{host}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="source-server", daemon=True)
    thread.start()
    try:
        yield source
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
