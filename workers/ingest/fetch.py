"""Stream a source from an http(s) URL into a sink: checked addresses, bounded size and time.

urllib3 is used one level below ``requests`` because the connection must go to the
address the guard checked, while TLS still verifies the certificate for the URL's host
name (``server_hostname`` and ``assert_hostname``), and redirects are followed by hand
so that each hop is checked again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import urllib3

from workers.ingest.guard import AddressPolicy, IngestError, IngestRefused, Target

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
READ_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "ffcluster-ingest/1"

Sink = Callable[[bytes], None]
Progress = Callable[[int, int | None], None]


class IngestFailed(IngestError):
    """The server or the network let the fetch down (status, closed early, too slow)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    deadline: float
    """``time.monotonic()`` by which the whole fetch must be over."""


def _mib(count: int) -> str:
    return f"{count / 1048576:.1f} MiB"


def _pool(target: Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.url.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1,
            server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED")
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout,
                                      retries=False, maxsize=1)


def _headers(target: Target) -> dict[str, str]:
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default = target.port == (443 if target.url.scheme == "https" else 80)
    return {"Host": host if default else f"{host}:{target.port}", "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity"}


def _open(target: Target) -> urllib3.BaseHTTPResponse:
    pool = _pool(target, urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S))
    try:
        return pool.urlopen("GET", target.request_target, headers=_headers(target),
                            redirect=False, preload_content=False, assert_same_host=False)
    except urllib3.exceptions.HTTPError as exc:
        raise IngestFailed(f"The source URL's server {target.host!r} could not be reached "
                           f"({type(exc).__name__}).") from None


def _length(response: urllib3.BaseHTTPResponse) -> int | None:
    raw = response.headers.get("Content-Length")
    return int(raw) if raw is not None and raw.isdigit() else None


class _BodyBroken(Exception):
    """Reading the body failed in the network (not in the sink)."""


def _blocks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The body in blocks; a network failure becomes :class:`_BodyBroken` (a failure of the
    sink, such as a full disk, is the caller's and is not relabelled)."""
    try:
        while block := response.read1(READ_BYTES):  # what has arrived: progress and the
            yield block                             # deadline are checked as bytes come
    except urllib3.exceptions.ProtocolError as exc:  # also a body shorter than its length
        raise _BodyBroken("The server closed the connection before the whole source was "
                          "sent") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _BodyBroken(f"The connection to the source failed ({type(exc).__name__})") \
            from exc


def _copy(response: urllib3.BaseHTTPResponse, sink: Sink, limits: Limits,
          progress: Progress) -> int:
    total, received = _length(response), 0
    if total is not None and total > limits.max_bytes:
        raise IngestRefused(f"The source is {_mib(total)}; the largest accepted is "
                            f"{_mib(limits.max_bytes)}.")
    try:
        for block in _blocks(response):
            received += len(block)
            if received > limits.max_bytes:
                raise IngestRefused(f"The source is larger than {_mib(limits.max_bytes)}, "
                                    "the largest accepted; the fetch was stopped.")
            if time.monotonic() > limits.deadline:
                raise IngestFailed(f"The source was not fetched in time ({_mib(received)} "
                                   "received); see FFCLUSTER_INGEST_TIMEOUT_S.")
            sink(block)
            progress(received, total)
    except _BodyBroken as exc:
        of = f" of {total}" if total is not None else ""
        raise IngestFailed(f"{exc} ({received}{of} bytes received).") from None
    if total is not None and received != total:
        raise IngestFailed(f"The server closed the connection after {received} of {total} "
                           "bytes.")
    return received


def fetch_url(url: str, policy: AddressPolicy, sink: Sink, limits: Limits,
              progress: Progress) -> int:
    """Copy the body at ``url`` into ``sink``, following checked redirects; return its bytes."""
    for _hop in range(MAX_REDIRECTS + 1):
        target = policy.target(url)
        response = _open(target)
        try:
            if response.status in REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise IngestFailed(f"The source URL answered {response.status} without "
                                       "saying where to.")
                url = urljoin(url, location)
                log.info("source redirected to %s", url.split("?", 1)[0])
                continue
            if response.status != 200:
                raise IngestFailed(f"The source URL answered {response.status} "
                                   f"{response.reason or ''}".rstrip() + ".")
            return _copy(response, sink, limits, progress)
        finally:
            response.release_conn()
    raise IngestFailed(f"The source URL redirected more than {MAX_REDIRECTS} times.")
