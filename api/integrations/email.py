"""Sending email: the interface, the outbox default, and the factory that picks a provider.

Every provider takes a finished `EmailMessage` whose Message-ID is stable for its job and
part, so a retried job that re-sends a message produces the same message, not a new one.
"""

from __future__ import annotations

import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from api.integrations.errors import IntegrationError


class EmailSender(Protocol):
    name: str
    # True when sending the same message (same Message-ID) twice delivers it once, so a job
    # need not record each message before sending the next.
    idempotent: bool

    def send(self, message: EmailMessage) -> str:
        """Deliver the message; return the provider's id for it."""
        ...


class OutboxSender:
    """The offline default: one `.eml` file per message in a folder."""

    name = "outbox"
    idempotent = True  # the file is named by the Message-ID: a resend replaces it

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> str:
        message_id = message["Message-ID"] or ""
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>")) or "message"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".tmp", delete=False) as f:
                f.write(message.as_bytes())
            path = self.directory / f"{filename}.eml"
            os.replace(f.name, path)
        except OSError as exc:
            raise IntegrationError("email_outbox_unwritable", str(exc), retryable=True) from exc
        return str(path)


def create_sender(config: dict[str, Any]) -> EmailSender:
    """The provider named by EMAIL_PROVIDER (outbox, smtp, gmail)."""
    provider = config["EMAIL_PROVIDER"]
    if provider == "smtp":
        from api.integrations.smtp import SmtpSender

        return SmtpSender(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            use_tls=config["SMTP_USE_TLS"],
            timeout=config["SMTP_TIMEOUT_SECONDS"],
        )
    if provider == "gmail":
        from api.integrations.gmail import GmailSender

        return GmailSender(
            token_file=config["GMAIL_TOKEN_FILE"],
            endpoint=config["GMAIL_API_ENDPOINT"],
            token_uri=config["GMAIL_TOKEN_URI"],
        )
    return OutboxSender(config["EMAIL_OUTBOX_DIR"])
