"""Where FFmpeg writes before its output is renamed into place."""

from __future__ import annotations

import os
import secrets


def private_name(name: str) -> str:
    """A hidden name for ``name`` that no other process uses: two copies of one step (a
    finalize sent twice, running at once) never write into each other's files."""
    return f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
