"""Outcomes a job handler signals to the shared worker lifecycle."""

from __future__ import annotations


class JobFailed(Exception):
    """A permanent failure: the job fails with this code, no retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobSuperseded(Exception):
    """This attempt no longer holds the job (canceled, or its lease was taken over)."""
