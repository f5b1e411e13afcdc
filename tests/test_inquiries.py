"""POST /api/v1/inquiries: validation, storage, and the email job end to end."""

from __future__ import annotations

import email
import email.message
import email.policy
from datetime import date, timedelta
from pathlib import Path

import pytest

from api.inquiries.service import confirmation_for
from tests.conftest import sql, wait_for_job

VALID = {
    "name": "Ayu Lestari",
    "email": "ayu@example.com",
    "message": "We would love a week in Ubud and Amed in March. Can you help us plan it?",
    "phone": "+62 812 3456 7890",
    "subject": "Family trip in March",
    "travel_date": (date.today() + timedelta(days=60)).isoformat(),
    "group_size": 4,
}


def read_outbox(outbox: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(outbox.glob("*.eml"))}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "someone@mailinator.com"}, "email"),
        ({"message": "x" * 20_000}, "message"),
        ({"message": "too short"}, "message"),
        ({"group_size": 0}, "group_size"),
        ({"group_size": 1000}, "group_size"),
        ({"group_size": "four"}, "group_size"),
        ({"name": "   "}, "name"),
        ({"name": "Ayu\r\nBcc: victim@example.com"}, "name"),
        ({"phone": "call me"}, "phone"),
        ({"travel_date": "2001-01-01"}, "travel_date"),
        ({"travel_date": "next week"}, "travel_date"),
        ({"unexpected": "field"}, "unexpected"),
    ],
)
def test_invalid_fields_are_422_with_errors_per_field(client, change, field):
    response = client.post("/api/v1/inquiries", json={**VALID, **change})

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert field in problem["errors"]
    assert sql(client.application, "SELECT count(*) FROM inquiries")[0][0] == 0


def test_missing_required_fields_are_listed(client):
    response = client.post("/api/v1/inquiries", json={})

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"name", "email", "message"}


def test_malformed_json_is_400(client):
    response = client.post(
        "/api/v1/inquiries", data='{"name": "Ayu",', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "bad_request"


def test_inquiry_is_stored_before_the_job_is_answered(client):
    response = client.post("/api/v1/inquiries", json=VALID)

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "email"
    assert job["status"] == "queued"
    assert job["links"]["self"] == response.headers["Location"]
    rows = sql(
        client.application,
        "SELECT name, email, group_size, status, job_id FROM inquiries",
    )
    assert len(rows) == 1
    name, email, group_size, status, job_id = rows[0]
    assert (name, email, group_size, status) == ("Ayu Lestari", "ayu@example.com", 4, "new")
    assert str(job_id) == job["id"]


def test_worker_emails_company_and_confirms_to_sender(app, client, worker, tmp_path):
    response = client.post("/api/v1/inquiries", json=VALID)

    job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1
    assert job["result"]["sent"] == ["company", "confirmation"]
    messages = read_outbox(tmp_path / "outbox")
    assert len(messages) == 2
    company = next(text for name, text in messages.items() if ".company" in name)
    confirmation = next(text for name, text in messages.items() if ".confirmation" in name)
    assert "To: hello@baliblissed.com" in company
    assert "Reply-To: ayu@example.com" in company
    assert "Subject: New inquiry: Family trip in March (Ayu Lestari)" in company
    assert "We would love a week in Ubud" in company
    assert "Content-Type: text/html" in company
    assert "To: ayu@example.com" in confirmation
    assert "24-48 hours" in confirmation
    assert "+6285847006743" in confirmation


def test_html_in_an_inquiry_is_escaped_in_the_company_email(client, worker, tmp_path):
    response = client.post(
        "/api/v1/inquiries",
        json={**VALID, "message": "Hello <script>alert('x')</script> please call me back"},
    )

    wait_for_job(client, response.headers["Location"])

    company = next(
        text for name, text in read_outbox(tmp_path / "outbox").items() if ".company" in name
    )
    html = company.split("Content-Type: text/html", 1)[1]
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def confirmation_sent(outbox: Path) -> email.message.EmailMessage:
    (path,) = outbox.glob("*.confirmation*.eml")
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


@pytest.mark.parametrize(
    ("message", "subject", "phrase", "lang"),
    [
        (
            "Saya ingin pesan tur ke Ubud untuk keluarga dan teman kami",
            "Kami telah menerima pertanyaan Anda | BaliBlissed",
            "dalam 24-48 jam",
            "id",
        ),
        (
            "我们想在三月去巴厘岛旅游七天 请帮我们安排行程",
            "我们已收到您的咨询 | BaliBlissed",
            "24-48 小时内回复您",
            "zh",
        ),
        (
            "Wir möchten nach Bali und ich habe eine Frage zu Ubud",
            "We received your inquiry | BaliBlissed",
            "within 24-48 hours",
            "en",
        ),
    ],
)
def test_the_confirmation_is_in_the_language_of_the_inquiry(
    client, worker, tmp_path, message, subject, phrase, lang
):
    response = client.post("/api/v1/inquiries", json={**VALID, "message": message})

    job = wait_for_job(client, response.headers["Location"])

    sent = confirmation_sent(tmp_path / "outbox")
    assert job["status"] == "succeeded", job
    assert sent["Subject"] == subject
    assert phrase in " ".join(sent.get_body(("plain",)).get_content().split())
    html = sent.get_body(("html",)).get_content()
    assert f'<html lang="{lang}">' in html
    assert message not in html  # the unverified sender's text is never echoed


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-CN", "zh"), ("ID", "id"), ("en", "en"), ("fr", "en"), ("", "en"), (None, "en")],
)
def test_confirmation_languages_fall_back_to_english(language, expected):
    assert confirmation_for(language)[0] == expected
