"""The SSRF guard: which URLs a worker may fetch a source from, decided before connecting.

A source URL comes from a user, and the worker that fetches it sits inside the
operator's network, beside Redis, the object store and the cloud's metadata service.
So a URL's host is resolved first and *every* address it resolves to must be public
(``ip.is_global``: not loopback, private, link-local, CGNAT, multicast or reserved),
unless ``FFCLUSTER_INGEST_ALLOW`` lists its network. The client then connects to the
address that was checked (never resolving again, so a DNS answer that changes between
the check and the connection cannot pass), and every redirect is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

HTTP_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class IngestError(Exception):
    """The source could not be fetched; the message is the sentence for the job's error."""


class IngestRefused(IngestError):
    """The source URL may not be fetched at all (scheme, host, address, size)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise IngestRefused(f"The source URL's host {host!r} could not be resolved "
                            f"({exc}).") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to say to the server there."""

    url: SplitResult
    address: str
    port: int

    @property
    def host(self) -> str:
        return self.url.hostname or ""

    @property
    def request_target(self) -> str:
        """The path and query sent in the request line."""
        path = self.url.path or "/"
        return f"{path}?{self.url.query}" if self.url.query else path


def _why_not_public(address: IPAddress) -> str | None:
    if address.is_multicast:  # counted global by IANA, yet no source lives there
        return "a multicast address"
    if address.is_global:
        return None
    for test, name in ((address.is_loopback, "a loopback"), (address.is_link_local,
                       "a link-local (cloud metadata)"), (address.is_private, "a private")):
        if test:
            return f"{name} address"
    return "a non-public address"


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus the networks the operator allowed."""

    allowed: tuple[Network, ...] = ()
    resolver: Resolver = system_resolver

    def check_address(self, raw: str, host: str) -> IPAddress:
        """Return ``raw`` as an address if it may be reached, else raise :class:`IngestRefused`."""
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in network for network in self.allowed):
            return address
        reason = _why_not_public(address)
        if reason is not None:
            raise IngestRefused(
                f"The source URL's host {host!r} is {reason} ({address}); sources are fetched "
                "only from public addresses unless FFCLUSTER_INGEST_ALLOW lists the network.")
        return address

    def target(self, url: str) -> Target:
        """Check ``url`` (scheme, host, every resolved address) and pick the address to use."""
        parts = urlsplit(url)
        if parts.scheme not in HTTP_SCHEMES:
            raise IngestRefused(f"A source URL must start with http:// or https://, not "
                                f"{parts.scheme + '://' if parts.scheme else url[:20]!r}.")
        if not parts.hostname:
            raise IngestRefused("The source URL has no host name.")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise IngestRefused("The source URL's port is not a number from 1 to 65535.") \
                from None
        addresses = self.resolver(parts.hostname, port)
        if not addresses:
            raise IngestRefused(f"The source URL's host {parts.hostname!r} has no address.")
        checked = [self.check_address(a, parts.hostname) for a in addresses]  # all, not one
        return Target(parts, str(checked[0]), port)
