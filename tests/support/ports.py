"""Free TCP ports and polling with a deadline, for tests that start real processes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], T], timeout: float, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    Connection errors and the like count as "not yet"; an ``AssertionError`` or
    ``RuntimeError`` (how start-up helpers say a process died) fails at once.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (AssertionError, RuntimeError):
            raise  # a process died at start-up: say so now, not after the whole timeout
        except Exception as exc:  # the condition may fail until the thing is up
            last_error = exc
        else:
            if result:
                return result
        time.sleep(interval)
    raise TimeoutError(f"{message or 'condition'} not met within {timeout}s (last: {last_error!r})")
