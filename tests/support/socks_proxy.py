"""A SOCKS5 proxy (RFC 1928, CONNECT without authentication) that reaches this machine's
loopback only: what a browser in a network namespace of its own uses to reach the servers a
test started on 127.0.0.1. Any other destination is refused.

The listening socket is handed in already made, so it may belong to another network
namespace than the connections the proxy opens.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import struct
import threading

log = logging.getLogger(__name__)

VERSION, NO_AUTH, NO_ACCEPTABLE, CONNECT = 5, 0, 0xFF, 1
IPV4, DOMAIN, IPV6 = 1, 3, 4
SUCCEEDED, NOT_ALLOWED, REFUSED, UNSUPPORTED = 0, 2, 5, 7


def _read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection during the handshake")
        data += chunk
    return data


def _reply(conn: socket.socket, code: int) -> None:
    conn.sendall(struct.pack("!BBBB4sH", VERSION, code, 0, IPV4, bytes(4), 0))


def _requested_destination(conn: socket.socket) -> tuple[str, int] | int:
    """The loopback (host, port) a CONNECT asks for, or the reply code that refuses it."""
    version, command, _, kind = _read_exactly(conn, 4)
    if version != VERSION or command != CONNECT:
        return UNSUPPORTED
    if kind == IPV4:
        host = socket.inet_ntop(socket.AF_INET, _read_exactly(conn, 4))
    elif kind == IPV6:
        host = socket.inet_ntop(socket.AF_INET6, _read_exactly(conn, 16))
    elif kind == DOMAIN:
        host = _read_exactly(conn, _read_exactly(conn, 1)[0]).decode("ascii", "replace")
    else:
        return UNSUPPORTED
    (port,) = struct.unpack("!H", _read_exactly(conn, 2))
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return (host, port) if loopback else NOT_ALLOWED


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``sink``'s sending side."""
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class LoopbackSocksProxy:
    """Serves SOCKS5 on ``listener`` (a bound, listening socket) from daemon threads."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_forever, daemon=True,
                                        name="socks-proxy")

    def start(self) -> LoopbackSocksProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept_forever(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                upstream = self._handshake(conn)
            except (OSError, ConnectionError) as exc:
                log.debug("SOCKS handshake failed: %s", exc)
                return
            if upstream is None:
                return
            with upstream:
                back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
                back.start()
                _pump(conn, upstream)
                back.join()

    def _handshake(self, conn: socket.socket) -> socket.socket | None:
        version, count = _read_exactly(conn, 2)
        methods = _read_exactly(conn, count)
        if version != VERSION or NO_AUTH not in methods:
            conn.sendall(bytes([VERSION, NO_ACCEPTABLE]))
            return None
        conn.sendall(bytes([VERSION, NO_AUTH]))
        destination = _requested_destination(conn)
        if isinstance(destination, int):
            log.warning("SOCKS request refused (reply %d): only loopback is served", destination)
            _reply(conn, destination)
            return None
        try:
            upstream = socket.create_connection(destination, timeout=10)
        except OSError as exc:
            log.info("SOCKS connect to %s failed: %s", destination, exc)
            _reply(conn, REFUSED)
            return None
        upstream.settimeout(None)
        _reply(conn, SUCCEEDED)
        return upstream
