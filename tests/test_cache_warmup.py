"""Cache warm-up (beat task and CLI), its metrics, and the admin cache endpoints."""

from __future__ import annotations

from tests.conftest import create_user, token_for
from tests.test_blog import POST


def test_warm_up_fills_the_public_reads(app, client):
    author = token_for(app, create_user(app, username="writer"))
    post = client.post("/api/v1/posts", json=POST, headers=author).get_json()
    client.delete("/api/v1/admin/cache", headers=token_for(app, role="admin"))

    result = app.test_cli_runner().invoke(args=["cache", "warm"])

    assert result.exit_code == 0
    assert "warmed" in result.output
    admin = token_for(app, role="admin")
    before = client.get("/api/v1/admin/cache", headers=admin).get_json()
    client.get("/api/v1/posts")
    client.get(f"/api/v1/posts/{post['slug']}")
    client.get("/api/v1/destinations")
    client.get("/api/v1/reviews/summary?target=agency")
    after = client.get("/api/v1/admin/cache", headers=admin).get_json()
    assert after["hits"] - before["hits"] == 4  # every first read was already warm
    assert after["misses"] == before["misses"]
    assert after["backend"] == "RedisCache"
    assert after["last_warm_up"]["keys"] >= 8


def test_warm_up_is_exported_as_metrics(app, client):
    app.test_cli_runner().invoke(args=["cache", "warm"])

    text = client.get("/metrics").get_data(as_text=True)

    assert "baliblissed_cache_warm_keys " in text
    assert "baliblissed_cache_warm_duration_seconds " in text
    assert 'baliblissed_cache_requests_total{namespace="catalogue",result="miss"}' in text


def test_clearing_the_cache_keeps_sessions(app, client):
    admin = token_for(app, role="admin")
    client.get("/api/v1/destinations")

    assert client.delete("/api/v1/admin/cache", headers=admin).status_code == 204
    assert client.get("/api/v1/auth/me", headers=admin).status_code == 200
    assert client.delete("/api/v1/admin/cache", headers=token_for(app)).status_code == 403


def test_rate_limit_status(app, client):
    status = client.get("/api/v1/admin/rate-limits", headers=token_for(app, role="admin"))

    assert status.status_code == 200
    assert status.get_json()["healthy"] is True
    assert client.get("/api/v1/admin/rate-limits").status_code == 401
