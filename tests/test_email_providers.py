"""Each email provider through its real client: SMTP (aiosmtpd) and the Gmail API client."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.integrations.email import OutboxSender, OutgoingEmail
from api.integrations.errors import IntegrationError
from api.integrations.gmail import GmailSender
from tests.conftest import free_port, running_worker, wait_for_job
from tests.support.fake_gmail import FakeGmail
from tests.support.fake_smtp import FakeSmtpServer
from tests.test_inquiries import VALID


def message(to: str = "guest@example.com") -> OutgoingEmail:
    return OutgoingEmail(
        sender="BaliBlissed <no-reply@baliblissed.com>",
        to=to,
        subject="Selamat datang",
        message_id="<job-1.welcome@baliblissed.com>",
        date="Wed, 02 Dec 2026 05:00:00 GMT",
        text="Hello from Bali",
        html="<p>Hello from Bali</p>",
    )


def test_inquiry_over_smtp(make_app):
    with FakeSmtpServer(free_port()) as smtp:
        app = make_app(
            EMAIL_PROVIDER="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp.port),
            SMTP_USE_TLS="false",
            COMPANY_TARGET_EMAIL="sales@baliblissed.test",
        )
        client = app.test_client()
        with running_worker(app):
            job = wait_for_job(
                client, client.post("/api/v1/inquiries", json=VALID).headers["Location"]
            )

    assert job["status"] == "succeeded"
    assert job["result"]["provider"] == "smtp"
    by_recipient = {mail["To"]: mail for mail in smtp.handler.messages}
    company = by_recipient["sales@baliblissed.test"]
    assert company["Reply-To"] == "ayu@example.com"
    assert company["Message-ID"] == f"<{job['id']}.company@baliblissed.com>"
    assert company.get_body(("plain",)).get_content().count("Ayu Lestari") >= 1
    assert "<html" in company.get_body(("html",)).get_content()
    assert by_recipient["ayu@example.com"]["Subject"] == "We received your inquiry | BaliBlissed"


def test_inquiry_through_the_gmail_api_client(make_app, tmp_path):
    with FakeGmail() as gmail:
        token_file = gmail.write_token_file(tmp_path / "token.json")
        app = make_app(
            EMAIL_PROVIDER="gmail",
            GMAIL_TOKEN_FILE=str(token_file),
            GMAIL_API_ENDPOINT=gmail.url,
            GMAIL_TOKEN_URI=gmail.token_uri,
        )
        client = app.test_client()
        with running_worker(app):
            job = wait_for_job(
                client, client.post("/api/v1/inquiries", json=VALID).headers["Location"]
            )

    assert job["status"] == "succeeded", job
    assert job["result"]["provider"] == "gmail"
    assert sorted(mail["To"] for mail in gmail.messages) == [
        "ayu@example.com",
        "hello@baliblissed.com",
    ]
    assert gmail.token_requests >= 1  # the client refreshed its token at the token endpoint
    assert all(header == "Bearer ya29.test" for header in gmail.authorizations)


def test_gmail_5xx_is_retryable_and_4xx_is_not(tmp_path):
    with FakeGmail() as gmail:
        sender = GmailSender(
            token_file=str(gmail.write_token_file(tmp_path / "t.json")),
            endpoint=gmail.url,
            token_uri=gmail.token_uri,
        )
        gmail.send_statuses = [503, 400]
        with pytest.raises(IntegrationError) as unavailable:
            sender.send(message())
        with pytest.raises(IntegrationError) as rejected:
            sender.send(message())
        provider_id = sender.send(message())

    assert (unavailable.value.code, unavailable.value.retryable) == (
        "email_provider_unavailable",
        True,
    )
    assert (rejected.value.code, rejected.value.retryable) == ("email_rejected", False)
    assert provider_id == "gmail-1"


def test_gmail_without_a_token_file_fails_permanently(tmp_path):
    sender = GmailSender(
        token_file=str(tmp_path / "missing.json"),
        endpoint="http://127.0.0.1:9",
        token_uri="http://127.0.0.1:9/token",
    )

    with pytest.raises(IntegrationError) as error:
        sender.send(message())

    assert error.value.code == "email_not_configured"
    assert not error.value.retryable


def test_outbox_writes_one_file_per_message_and_a_resend_replaces_it(tmp_path):
    outbox = OutboxSender(str(tmp_path / "outbox"))

    outbox.send(message())
    outbox.send(message())

    files = list((tmp_path / "outbox").iterdir())
    assert [path.name for path in files] == ["job-1.welcome_baliblissed.com.eml"]
    assert "Hello from Bali" in files[0].read_text()
    assert files[0].stat().st_mode & 0o777 == 0o600  # names, addresses, what they wrote


def test_an_unwritable_outbox_is_a_retryable_error_that_leaves_no_partial_file(tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "job-1.welcome_baliblissed.com.eml").mkdir()  # the name taken by a folder

    with pytest.raises(IntegrationError) as error:
        OutboxSender(str(outbox)).send(message())

    assert error.value.code == "email_outbox_unwritable"
    assert error.value.retryable
    assert [path.name for path in outbox.iterdir()] == ["job-1.welcome_baliblissed.com.eml"]


def test_messages_in_other_languages_read_back_exactly(tmp_path):
    """Indonesian and Chinese text (and a long line) survive: what a mail client shows is what
    the template wrote."""
    import email
    import email.policy

    sent = OutgoingEmail(
        sender="BaliBlissed <no-reply@baliblissed.com>",
        to="wayan@example.com",
        subject="Terima kasih — 谢谢您的询问",
        message_id="<job-2.confirmation@baliblissed.com>",
        date="Wed, 02 Dec 2026 05:00:00 GMT",
        text="Halo, 您好!\n" + "Ubud " * 300 + "\nSampai jumpa",
        html="<p>Halo, 您好!</p>",
        reply_to="Ayu Putri <ayu@example.com>",
    )
    path = OutboxSender(str(tmp_path)).send(sent)

    read = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
    assert read["Subject"] == "Terima kasih — 谢谢您的询问"
    assert read["Reply-To"] == "Ayu Putri <ayu@example.com>"
    assert read.get_body(("plain",)).get_content().splitlines() == sent.text.splitlines()
    assert read.get_body(("html",)).get_content().strip() == "<p>Halo, 您好!</p>"
    assert not any(part.defects for part in read.walk())
