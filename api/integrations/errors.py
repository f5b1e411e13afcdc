"""The one failure type integrations raise, so workers can tell retry from give-up."""

from __future__ import annotations


class IntegrationError(Exception):
    """An outside service failed. `retryable` errors (timeouts, 429, 5xx) are worth retrying."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
