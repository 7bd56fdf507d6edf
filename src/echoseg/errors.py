"""Exceptions shared across echoseg.

`DataError` is what every reader raises for bad input: it names the file and the problem, so a
batch job can log it and move on.
"""

from __future__ import annotations

from pathlib import Path


class EchosegError(Exception):
    """Base class for errors echoseg raises on purpose (shown to users without a traceback)."""


class DataError(EchosegError):
    """Bad input data: `path` is the offending file (or folder), `problem` says what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(EchosegError):
    """A checkpoint that is not ours, is damaged, or does not match the requested model."""


class Interrupted(KeyboardInterrupt):
    """The user pressed Ctrl-C: the message says where the work stopped. It stays a KeyboardInterrupt,
    so code that handles Ctrl-C still sees one; the CLI prints it as one line and exits with 130."""
