"""Signed webhook delivery against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from tests.support.ports import free_port
from workers.runtime.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, deliver, sign


def test_sign_is_prefixed_hmac_sha256_hex_of_timestamp_and_body() -> None:
    body = b'{"event": "job"}'
    expected = hmac.new(b"k3y", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, "k3y", 1700000000) == f"sha256={expected}"
    assert sign(body, "other", 1700000000) != sign(body, "k3y", 1700000000)
    assert sign(body, "k3y", 1700000001) != sign(body, "k3y", 1700000000)  # no replay


class Receiver:
    """An HTTP server on a free loopback port that records POSTs and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


JOB = {"id": "abc123", "state": "done", "renditions": [{"profile": "720p"}]}


def test_deliver_posts_a_signed_json_body(receiver: Receiver) -> None:
    assert deliver(receiver.url, "s3cret", JOB) == 204
    [(path, headers, body)] = receiver.requests
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"event": "job", "job": JOB}
    timestamp = int(headers[TIMESTAMP_HEADER])
    assert abs(timestamp - time.time()) < 60
    signature = headers[SIGNATURE_HEADER]
    content = f"{timestamp}.".encode() + body
    expected = "sha256=" + hmac.new(b"s3cret", content, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


def test_deliver_without_a_secret_sends_no_signature(receiver: Receiver) -> None:
    assert deliver(receiver.url, None, JOB) == 204
    [(_, headers, _)] = receiver.requests
    assert SIGNATURE_HEADER not in headers


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_raise_for_a_retry(receiver: Receiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(requests.HTTPError, match=str(status)) as caught:
        deliver(receiver.url, "s3cret", JOB)
    assert caught.value.response is not None and caught.value.response.status_code == status
    assert len(receiver.requests) == 1


def test_client_errors_are_returned_not_retried(receiver: Receiver) -> None:
    receiver.status = 404
    assert deliver(receiver.url, None, JOB) == 404


def test_unreachable_receiver_raises_a_request_exception() -> None:
    with pytest.raises(requests.RequestException):
        deliver(f"http://127.0.0.1:{free_port()}/hook", None, JOB)
