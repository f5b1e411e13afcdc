"""Redaction of every log line, web and worker: passwords, tokens, secrets, `Authorization`,
Argon2 hashes, email addresses and phone numbers never reach a log in clear.

One filter on every handler (the root logger's, and Celery's once it has set up its own) rewrites
the record's message and traceback before any formatter sees them, so no caller can forget.
"""

from __future__ import annotations

import logging
import re
import traceback

REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer <redacted>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt>"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_<redacted>"),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s'\"]+"), "<argon2-hash>"),
    (
        re.compile(
            r"(?i)([\"']?\b(?:authorization|cookie|password|passwd|current_password|new_password|"
            r"secret|api_key|apikey|token|access_token|refresh_token|code_verifier)\b[\"']?"
            r"\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
        ),
        r"\1<redacted>",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"(?<![\w.:/-])\+\d[\d ()-]{7,16}\d(?![\w.])"), "<phone>"),
)


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Replace the record's message and traceback with redacted text (formatters then print
    them as usual)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: log the raw template instead
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, "_redacted", True)  # noqa: B010 - LogRecord has no such declared field
        return True


def install(logger: logging.Logger) -> None:
    """Add the filter to each of the logger's handlers (once)."""
    for handler in logger.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
