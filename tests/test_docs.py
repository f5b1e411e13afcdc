"""Operating the web answers: security headers by environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response

from api import create_app
from api.extensions import db
from tests.conftest import REDIS_DB_BROKER, REDIS_DB_CACHE, REDIS_HOST_URL
from tests.test_config import PRODUCTION

HSTS = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def production_app(postgres_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A complete production environment (tests/test_config.py), on the test servers."""
    app = create_app(
        {
            **PRODUCTION,
            "DATABASE_URL": postgres_url,
            "REDIS_URL": f"{REDIS_HOST_URL}/{REDIS_DB_CACHE}",
            "CELERY_BROKER_URL": f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}",
            "DATA_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "WARNING",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


# --- security headers ---------------------------------------------------------------------


def assert_common_headers(response: Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("app_env", ["testing", "development"])
def test_outside_production_answers_carry_no_hsts(make_app, app_env):
    client = make_app(APP_ENV=app_env).test_client()

    for path in ("/health/live", "/api/v1/destinations", "/no-such-page", "/docs"):
        response = client.get(path)
        assert_common_headers(response)
        assert "Strict-Transport-Security" not in response.headers, path


def test_production_answers_carry_hsts(production_app):
    client = production_app.test_client()

    for path in ("/health/live", "/api/v1/destinations", "/no-such-page", "/docs", "/redoc"):
        response = client.get(path)
        assert_common_headers(response)
        assert response.headers.getlist("Strict-Transport-Security") == [HSTS], path


def test_api_answers_may_load_run_or_frame_nothing(client):
    for response in (
        client.get("/health/live"),
        client.get("/api/v1/destinations"),
        client.post("/api/v1/inquiries", json={}),  # a 422 problem
        client.get("/openapi.json"),
        client.get("/no-such-page"),
    ):
        assert response.headers.getlist("Content-Security-Policy") == [API_CSP]
