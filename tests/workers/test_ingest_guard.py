"""The SSRF guard and the URL client: addresses checked before any connection, every
redirect checked again, sizes and lengths enforced, against a real server on loopback."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_source import SourceServer, serve_sources
from workers.ingest.fetch import IngestFailed, Limits, fetch_url
from workers.ingest.guard import AddressPolicy, IngestRefused

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def _resolving(*addresses: str) -> AddressPolicy:
    return AddressPolicy(resolver=lambda _host, _port: list(addresses))


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"),
    ("10.1.2.3", "a private address"), ("192.168.0.10", "a private address"),
    ("172.16.5.4", "a private address"), ("fd00:ec2::254", "a private address"),
    ("169.254.169.254", "a link-local (cloud metadata) address"),
    ("fe80::1", "a link-local (cloud metadata) address"),
    ("::ffff:127.0.0.1", "a loopback address"), ("100.64.0.1", "a non-public address"),
    ("0.0.0.0", "a private address"), ("224.0.0.1", "a multicast address"),
])
def test_non_public_addresses_are_refused_with_a_sentence(address: str, why: str) -> None:
    with pytest.raises(IngestRefused) as refused:
        _resolving(address).target("https://videos.example.com/a.mp4")
    assert str(refused.value).startswith(f"The source URL's host 'videos.example.com' is {why}")
    assert "FFCLUSTER_INGEST_ALLOW" in str(refused.value)


def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(IngestRefused, match="private"):
        _resolving("93.184.215.14", "10.0.0.5").target("http://mixed.example.com/a.mp4")


def test_a_public_address_is_used_and_an_allowed_network_passes() -> None:
    target = _resolving("93.184.215.14").target("https://cdn.example.com:8443/v/a.mp4?sig=1")
    assert (target.address, target.port, target.host) == ("93.184.215.14", 8443,
                                                          "cdn.example.com")
    assert target.request_target == "/v/a.mp4?sig=1"
    allowed = AddressPolicy(LOOPBACK, resolver=lambda _h, _p: ["127.0.0.1"])
    assert allowed.target("http://localhost/a.mp4").address == "127.0.0.1"


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp4", "file:///etc/passwd",
                                 "gopher://example.com/", "//example.com/a.mp4"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(IngestRefused, match="must start with http:// or https://"):
        _resolving("93.184.215.14").target(url)


def test_an_unresolvable_host_is_a_sentence() -> None:
    with pytest.raises(IngestRefused, match="could not be resolved"):
        AddressPolicy().target("http://no-such-host.invalid/a.mp4")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceServer]:
    root = tmp_path_factory.mktemp("sources")
    (root / "a.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    with serve_sources(root) as running:
        yield running


def _fetch(url: str, policy: AddressPolicy, max_bytes: int = 1 << 30) -> tuple[int, bytes]:
    sink = bytearray()
    seen: list[int] = []
    size = fetch_url(url, policy, sink.extend, Limits(max_bytes, time.monotonic() + 30),
                     lambda received, _total: seen.append(received))
    assert seen and seen[-1] == size
    return size, bytes(sink)


def test_a_file_is_fetched_whole_from_an_allowed_network(server: SourceServer,
                                                         tmp_path: Path) -> None:
    size, body = _fetch(server.file_url("a.bin"), AddressPolicy(LOOPBACK))
    assert size == len(body) == (server.root / "a.bin").stat().st_size


def test_loopback_is_refused_without_the_allow_list_and_nothing_is_requested(
    server: SourceServer
) -> None:
    before = len(server.requests)
    with pytest.raises(IngestRefused, match="loopback"):
        _fetch(server.file_url("a.bin"), AddressPolicy())
    assert len(server.requests) == before  # refused before connecting


def test_a_redirect_to_the_metadata_address_is_refused(server: SourceServer) -> None:
    url = f"{server.url}/redirect?to=http://169.254.169.254/latest/meta-data/"
    with pytest.raises(IngestRefused, match="link-local"):
        _fetch(url, AddressPolicy(LOOPBACK))


def test_a_redirect_within_the_allowed_network_is_followed(server: SourceServer) -> None:
    url = f"{server.url}/redirect?to=/files/a.bin"
    assert _fetch(url, AddressPolicy(LOOPBACK))[0] == 1 << 20


def test_sizes_over_the_limit_are_refused_with_or_without_a_length(
    server: SourceServer
) -> None:
    with pytest.raises(IngestRefused, match=r"The source is 1\.0 MiB; the largest accepted is"):
        _fetch(server.file_url("a.bin"), AddressPolicy(LOOPBACK), max_bytes=1000)
    sink = bytearray()
    with pytest.raises(IngestRefused, match=r"larger than 0\.2 MiB"):
        fetch_url(f"{server.url}/chunked?bytes=1048576", AddressPolicy(LOOPBACK), sink.extend,
                  Limits(200_000, time.monotonic() + 30), lambda _r, _t: None)
    assert len(sink) <= 200_000


def test_a_source_that_arrives_too_slowly_is_stopped_at_the_deadline(
    server: SourceServer
) -> None:
    sink = bytearray()
    started = time.monotonic()
    with pytest.raises(IngestFailed, match="not fetched in time"):
        fetch_url(f"{server.url}/slow/a.bin?seconds=20", AddressPolicy(LOOPBACK), sink.extend,
                  Limits(1 << 30, time.monotonic() + 1.0), lambda _r, _t: None)
    assert time.monotonic() - started < 5 and 0 < len(sink) < 1 << 20


def test_errors_and_short_bodies_are_sentences(server: SourceServer) -> None:
    with pytest.raises(IngestFailed, match=r"^The source URL answered 404 Not Found\.$"):
        _fetch(f"{server.url}/status/404", AddressPolicy(LOOPBACK))
    short = r"closed the connection before the whole source was sent \(1048576 of 2097152 bytes"
    with pytest.raises(IngestFailed, match=short):
        _fetch(f"{server.url}/short/a.bin", AddressPolicy(LOOPBACK))
