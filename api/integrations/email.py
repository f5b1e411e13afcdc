"""Sending email: the message, the interface, the outbox default, and the factory that picks
a provider.

Every provider takes a finished `OutgoingEmail` whose Message-ID is stable for its job and part,
so a retried job that re-sends a message produces the same message, not a new one.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import suppress
from dataclasses import dataclass
from email import quoprimime
from email.header import Header
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from api.integrations.errors import IntegrationError

CRLF = "\r\n"


def _header(value: str) -> str:
    """ASCII as it is; anything else RFC 2047-encoded (UTF-8)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _body(text: str, subtype: str) -> str:
    """A text part: 7-bit when ASCII with short lines (readable as it is), else
    quoted-printable UTF-8."""
    lines = text.splitlines()
    if text.isascii() and all(len(line) <= 998 for line in lines):
        return (
            f'Content-Type: text/{subtype}; charset="us-ascii"{CRLF}'
            f"Content-Transfer-Encoding: 7bit{CRLF}{CRLF}" + CRLF.join(lines)
        )
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        # quoprimime works on one character per byte: hand it the UTF-8 bytes that way.
        + quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), eol=CRLF)
    )


@dataclass(frozen=True)
class OutgoingEmail:
    """A text + HTML message, serialised by hand: for what we send this is the RFC 5322 text
    the stdlib's `email` package would write, without its per-header parsing and folding
    (a third of an email job's time). The MIME boundary comes from the Message-ID, so a resend
    is byte for byte the same message."""

    sender: str  # the From header, e.g. "BaliBlissed <no-reply@baliblissed.com>"
    to: str
    subject: str
    message_id: str
    date: str
    text: str
    html: str
    reply_to: str | None = None

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    def as_bytes(self) -> bytes:
        boundary = f"=_{re.sub(r'[^A-Za-z0-9.@_-]', '_', self.message_id.strip('<>'))}"
        headers = [
            f"From: {_header(self.sender)}",
            f"To: {_header(self.to)}",
            f"Subject: {_header(self.subject)}",
        ]
        if self.reply_to:
            headers.append(f"Reply-To: {_header(self.reply_to)}")
        headers += [
            f"Message-ID: {self.message_id}",
            f"Date: {self.date}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        parts = [_body(self.text, "plain"), _body(self.html, "html")]
        body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
        return (CRLF.join(headers) + CRLF + CRLF + body + f"--{boundary}--{CRLF}").encode("ascii")


class EmailSender(Protocol):
    name: str
    # True when sending the same message (same Message-ID) twice delivers it once, so a job
    # need not record each message before sending the next.
    idempotent: bool

    def send(self, message: OutgoingEmail) -> str:
        """Deliver the message; return the provider's id for it."""
        ...


class OutboxSender:
    """The offline default: one `.eml` file per message in a folder."""

    name = "outbox"
    idempotent = True  # the file is named by the Message-ID: a resend replaces it

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def send(self, message: OutgoingEmail) -> str:
        message_id = message.message_id
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>")) or "message"
        path = self.directory / f"{filename}.eml"
        # Written whole under a name of this thread's, then renamed: a reader never sees half.
        partial = self.directory / f".{os.getpid()}-{threading.get_native_id()}.tmp"
        data = message.as_bytes()
        try:
            try:
                _write_private(partial, data)
            except FileNotFoundError:  # the first message: the folder is made once
                self.directory.mkdir(parents=True, exist_ok=True)
                _write_private(partial, data)
            os.replace(partial, path)
        except OSError as exc:
            with suppress(OSError):
                partial.unlink()
            raise IntegrationError("email_outbox_unwritable", str(exc), retryable=True) from exc
        return str(path)


def _write_private(path: Path, data: bytes) -> None:
    """A new file only its owner reads (messages hold names, addresses and what they wrote);
    one left by a process that died with this one's id is replaced, never followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        path.unlink()
        descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


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
