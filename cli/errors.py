"""Errors the CLI reports as one sentence and an exit code, never as a traceback."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report to the user as ``ffcluster: <sentence>``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
