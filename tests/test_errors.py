"""Every error is problem+json with the right status; nothing leaks."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc
from flask import Response

from api.database import database_unavailable
from tests.test_inquiries import VALID


def test_unknown_route_is_404_problem(client):
    response = client.get("/api/v1/nowhere")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/inquiries")

    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_json_body_over_max_json_bytes_is_413(make_app):
    client = make_app(MAX_JSON_BYTES="2048").test_client()

    response = client.post("/api/v1/inquiries", json={**VALID, "message": "x" * 5000})

    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"


def test_unexpected_exception_is_a_bare_500_logged_with_the_request_id(app, caplog):
    def explode() -> None:
        raise RuntimeError("secret connection string postgres://user:pw@db")

    app.add_url_rule("/explode", view_func=explode)

    response = app.test_client().get("/explode", headers={"X-Request-ID": "req-123"})

    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "code": "internal_error",
        "instance": "/explode",
        "request_id": "req-123",
    }
    assert "secret" not in response.get_data(as_text=True)
    assert any(record.exc_info and "secret" in str(record.exc_info[1]) for record in caplog.records)


def test_text_body_on_a_json_endpoint_is_422_not_500(client):
    response = client.post("/api/v1/inquiries", data="hello", content_type="text/plain")

    assert response.status_code == 422


@pytest.mark.parametrize("body", ["[]", '"text"', "123", "null"])
def test_json_that_is_not_an_object_is_rejected(client, body):
    response = client.post("/api/v1/inquiries", data=body, content_type="application/json")

    assert response.status_code in {400, 422}
    assert response.content_type == "application/problem+json"


def test_request_id_is_generated_or_echoed_and_security_headers_are_set(client):
    generated = client.get("/health/live")
    echoed = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    hostile = client.get("/health/live", headers={"X-Request-ID": "<script>" + "x" * 80})

    assert len(generated.headers["X-Request-ID"]) == 16
    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert len(hostile.headers["X-Request-ID"]) == 16
    assert generated.headers["X-Content-Type-Options"] == "nosniff"
    assert generated.headers["X-Frame-Options"] == "DENY"


def test_every_answer_carries_the_edge_headers_once_whatever_built_it(app):
    # The app's own answers get them appended as they leave (api.responses); one built as a
    # plain Flask Response, or with a Vary of its own, gets the same set.
    app.add_url_rule("/plain", "plain", lambda: Response("plain"))
    app.add_url_rule("/varied", "varied", lambda: Response("x", headers={"Vary": "Cookie"}))
    client = app.test_client()

    answers = [
        client.get(path)
        for path in ("/health/live", "/plain", "/varied", "/api/v1/nowhere", "/api/v1/posts")
    ]

    for answer in answers:
        names = [name for name, _ in answer.headers]
        for name in ("X-Request-ID", "X-Content-Type-Options", "Content-Security-Policy", "Vary"):
            assert names.count(name) == 1, (answer.request.path, name, names)
        assert "Origin" in answer.headers["Vary"]
    assert answers[2].headers["Vary"] == "Cookie, Origin"


def test_rate_limit_is_429_problem_with_retry_after(make_app):
    client = make_app(RATELIMIT_ENABLED="true", RATELIMIT_INQUIRY="2 per hour").test_client()

    answers = [client.post("/api/v1/inquiries", json=VALID) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert "Retry-After" not in answers[0].headers
    limited = answers[2]
    assert limited.content_type == "application/problem+json"
    assert limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


def test_default_limit_applies_per_address_and_health_is_exempt(make_app):
    client = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="2 per hour").test_client()

    listing = [client.get("/api/v1/jobs").status_code for _ in range(3)]
    health = [client.get("/health/live").status_code for _ in range(5)]

    assert listing == [401, 401, 429]
    assert health == [200] * 5


def test_cors_preflight_allows_configured_origins_only(make_app):
    client = make_app(CORS_ORIGINS="https://baliblissed.com").test_client()
    preflight = {"Access-Control-Request-Method": "POST"}

    allowed = client.options(
        "/api/v1/inquiries", headers={"Origin": "https://baliblissed.com", **preflight}
    )
    refused = client.options(
        "/api/v1/inquiries", headers={"Origin": "https://evil.example", **preflight}
    )

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://baliblissed.com"
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("database is locked", 503),  # SQLite busy: try again shortly
        ("unable to open database file", 503),
        ('near "WITH": syntax error', 500),  # a statement SQLite cannot run: our bug
        ("no such table: inquiries", 500),
    ],
)
def test_sqlite_operational_errors_tell_an_outage_from_a_bug(app, message, status):
    """SQLite reports both as OperationalError; only the outage is a 503 worth retrying (a job
    put back in the queue), a bug is a 500 logged with its traceback."""

    def fail() -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    app.add_url_rule("/sqlite-fails", view_func=fail)

    response = app.test_client().get("/sqlite-fails")

    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    error = sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))
    assert database_unavailable(error) is (status == 503)
