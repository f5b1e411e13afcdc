"""Email over SMTP (STARTTLS on 587, implicit TLS on 465, plain for local relays)."""

from __future__ import annotations

import smtplib
import ssl

from api.integrations.email import OutgoingEmail
from api.integrations.errors import IntegrationError

IMPLICIT_TLS_PORT = 465


class SmtpSender:
    name = "smtp"
    idempotent = False

    def __init__(
        self, *, host: str, port: int, username: str, password: str, use_tls: bool, timeout: int
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.use_tls = use_tls
        self.timeout = timeout

    def _connect(self) -> smtplib.SMTP:
        if self.use_tls and self.port == IMPLICIT_TLS_PORT:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.use_tls:
            client.starttls(context=ssl.create_default_context())
        return client

    def send(self, message: OutgoingEmail) -> str:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password)
                client.sendmail(message.envelope_sender, [message.to], message.as_bytes())
        except smtplib.SMTPAuthenticationError as exc:
            raise IntegrationError(
                "email_auth_failed", "SMTP login refused", retryable=False
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retryable = all(400 <= code < 500 for code in codes)
            raise IntegrationError(
                "email_provider_unavailable" if retryable else "email_recipient_refused",
                f"SMTP server refused the recipient ({', '.join(map(str, codes))})",
                retryable=retryable,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.smtp_code < 500
            raise IntegrationError(
                "email_provider_unavailable" if retryable else "email_rejected",
                f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)[:200]}",
                retryable=retryable,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise IntegrationError(
                "email_provider_unavailable", f"SMTP connection failed: {exc}", retryable=True
            ) from exc
        return message.message_id


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
