"""The holes the security review found, one test each, named after the hole (accounts,
denial of service, leaks). OAuth takeover, email changes, webhooks, Markdown and media have
their own files (test_oauth, test_auth, test_webhooks, test_blog_text, test_media_hostile)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import redis

from api import create_app
from api.jobs.service import WAITERS
from config import ConfigError
from tests.conftest import REDIS_HOST_URL, create_user, sql, token_for, wait_for_job
from tests.support.fake_oauth import FakeOAuthProvider
from tests.test_auth import bearer, login, register
from tests.test_blog import write
from tests.test_inquiries import VALID, read_outbox
from tests.test_media import CountingStream
from tests.test_reviews import review

REDIS_DB_SECURITY = 11  # a Redis database apart from the cache's (13) and the broker's (14)


# --- accounts -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::"])
def test_the_public_development_secret_key_is_refused_off_loopback(base_env, host):
    environ = {**base_env, "APP_ENV": "development", "HOST": host}
    with pytest.raises(ConfigError, match="development SECRET_KEY"):
        create_app(environ)
    create_app({**environ, "SECRET_KEY": "a-real-secret-" + "k" * 32})  # a key of one's own
    create_app({**environ, "HOST": "127.0.0.1"})  # or loopback only (make run)


def test_production_refuses_to_start_without_a_metrics_token(base_env):
    environ = {
        **base_env,
        "APP_ENV": "production",
        "SECRET_KEY": "a-real-secret-" + "k" * 32,
        "PASSWORD_SECURITY_LEVEL": "standard",
    }
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be set"):
        create_app(environ)


def test_oauth_state_is_single_use_even_when_replayed_concurrently(make_app):
    with FakeOAuthProvider() as provider:
        app = make_app(**provider.settings())
        location = app.test_client().get("/api/v1/auth/oauth/google/login").headers["Location"]
        state = location.split("state=", 1)[1].split("&", 1)[0]
        code = provider.authorize_google(location, sub="g-77", email="komang@gmail.test")
        url = f"/api/v1/auth/oauth/google/callback?code={code}&state={state}"
        start = threading.Barrier(8)
        answers: list[int] = []

        def replay() -> None:
            client = app.test_client()
            start.wait()
            answers.append(client.get(url, headers={"Accept": "application/json"}).status_code)

        threads = [threading.Thread(target=replay) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert sorted(answers) == [200] + [400] * 7
    assert len(provider.token_requests) == 1  # only one replay got past the state check


# --- denial of service ---------------------------------------------------------------------


def test_json_bodies_over_a_mebibyte_are_413_before_the_body_is_read(client):
    body = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    stream = CountingStream(body)

    response = client.post(
        "/api/v1/inquiries",
        input_stream=stream,
        content_length=len(body),
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "payload_too_large"
    assert stream.consumed == 0  # refused from Content-Length alone


@pytest.mark.parametrize(
    "path", ["/api/v1/inquiries", "/api/v1/auth/register", "/api/v1/chat", "/api/v1/itineraries"]
)
def test_deeply_nested_json_is_400_not_500(client, path):
    response = client.post(path, data="[" * 50_000 + "]" * 50_000, content_type="application/json")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "nests deeper" in response.get_json()["detail"]


@pytest.mark.parametrize("bad", ["\\ud800", "Ayu\\u0000"])
def test_lone_surrogates_and_nul_characters_are_400_not_500(app, client, bad):
    body = '{"name": "%s", "email": "ayu@example.com", "message": "%s"}' % (  # noqa: UP031
        bad,
        "Five days in Ubud in March, please.",
    )

    response = client.post("/api/v1/inquiries", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert sql(app, "SELECT count(*) FROM inquiries") == [(0,)]


def test_nul_in_a_query_string_is_400_not_500(client):
    response = client.get("/api/v1/posts?q=ubud%00")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


class BlackHole:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.mark.timeout(60)
def test_a_hung_redis_is_a_quick_503_not_a_hung_request(make_app):
    hole = BlackHole()
    try:
        app = make_app(REDIS_URL=f"redis://127.0.0.1:{hole.port}/0")
        user_id = create_user(app)
        with app.app_context():
            from api.auth.tokens import issue_pair
            from api.extensions import db
            from api.users.models import User

            pair = issue_pair(db.session.get(User, user_id))
        client = app.test_client()
        me = client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
        posts = client.get("/api/v1/posts")
    finally:
        hole.close()

    assert me.status_code == 503  # the revocation check cannot answer: fail closed
    assert me.mimetype == "application/problem+json"
    assert posts.status_code in {200, 503}  # a hang fails this test by its timeout instead


def test_metrics_and_the_detailed_health_need_the_metrics_token(make_app):
    client = make_app(METRICS_TOKEN="operators-only-token").test_client()
    token = {"Authorization": "Bearer operators-only-token"}

    assert client.get("/metrics").status_code == 401
    assert client.get("/health").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/metrics", headers=token).status_code == 200
    assert client.get("/health", headers=token).status_code == 200
    assert client.get("/health/live").status_code == 200  # orchestrators' probes stay public
    assert client.get("/health/ready").status_code == 200


def test_post_views_are_deduplicated_by_address_with_bounded_keys(app, client):
    author = token_for(app, create_user(app, username="writer"))
    post = write(client, author)
    cache_redis = redis.Redis.from_url(app.config["REDIS_URL"])
    before = len(cache_redis.keys("post-view*"))

    for number in range(50):  # one visitor, fifty User-Agents
        client.get(f"/api/v1/posts/{post['slug']}", headers={"User-Agent": f"bot/{number}"})

    assert len(cache_redis.keys("post-view*")) - before <= 2  # the hour's HLL + pending counts
    with app.app_context():
        from api.maintenance import BY_NAME

        assert BY_NAME["flush-post-views"].run() == 1
    assert client.get(f"/api/v1/posts/{post['slug']}").status_code == 200


def test_revoked_tokens_survive_the_cache_being_evicted(make_app):
    """Security state lives apart from the response cache: emptying the cache (what eviction
    does under memory pressure) must not bring a logged-out token back."""
    app = make_app(SECURITY_REDIS_URL=f"{REDIS_HOST_URL}/{REDIS_DB_SECURITY}")
    security = redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_SECURITY}")
    security.flushdb()
    client = app.test_client()
    register(client)
    pair = login(client).get_json()
    assert (
        client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    )

    redis.Redis.from_url(app.config["CACHE_REDIS_URL"]).flushdb()  # every cache entry evicted

    try:
        assert (
            client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
        )
    finally:
        security.flushdb()


@pytest.mark.parametrize(
    ("settings", "waiters"),
    [({"LONG_POLL_MAX_WAITERS": "1"}, 1), ({"LONG_POLL_MAX_WAITERS_PER_CALLER": "2"}, 2)],
)
def test_long_polls_beyond_the_bound_are_answered_at_once_with_retry_after(
    make_app, settings, waiters
):
    """No worker runs, so the job stays queued and every granted poll waits its full time."""
    app = make_app(**settings)
    client = app.test_client()
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]
    held = [
        threading.Thread(target=lambda: app.test_client().get(f"{location}?wait=10"))
        for _ in range(waiters)
    ]
    for thread in held:
        thread.start()
    for _ in range(200):  # the signal: the held polls have taken their slots
        if WAITERS._total >= waiters:
            break
        time.sleep(0.02)

    refused = client.get(f"{location}?wait=10")

    assert refused.status_code == 200
    assert refused.headers["Retry-After"] == "1"
    assert refused.get_json()["status"] == "queued"
    assert all(thread.is_alive() for thread in held)  # answered while the others still wait
    for thread in held:
        thread.join(15)


# --- leaks and relays ----------------------------------------------------------------------


def test_the_inquiry_confirmation_does_not_relay_what_the_sender_wrote(client, worker, tmp_path):
    spam = {
        **VALID,
        "name": "Claim your prize at https://evil.example/win",
        "subject": "You won https://evil.example/win",
        "message": "Dear customer, your account is locked: log in at https://evil.example/login",
    }

    response = client.post("/api/v1/inquiries", json=spam)
    wait_for_job(client, response.headers["Location"])

    messages = read_outbox(tmp_path / "outbox")
    confirmation = next(text for name, text in messages.items() if ".confirmation" in name)
    company = next(text for name, text in messages.items() if ".company" in name)
    assert "evil.example" not in confirmation
    assert "evil.example" in company  # the agency still reads the whole inquiry


def test_logs_never_show_passwords_tokens_emails_or_bound_parameters(
    make_app, capfd, tmp_path: Path
):
    app = make_app(LOG_LEVEL="INFO")
    client = app.test_client()
    app.logger.warning(
        "login attempt for ayu@example.com with password=Sunny-Ubud-Rice-2026 "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl "
        "phone +62 812 3456 7890"
    )
    with app.app_context():
        from sqlalchemy import text

        from api.extensions import db

        try:  # a database error whose statement carries an email and a hash as parameters
            db.session.execute(
                text("SELECT CAST(:email AS integer), :hash"),
                {"email": "wayan@example.com", "hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA"},
            )
        except Exception:
            app.logger.exception("query failed")
    client.get("/api/v1/auth/me", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.x.y"})

    logged = capfd.readouterr().err
    assert "query failed" in logged
    assert "login attempt" in logged
    for secret in (
        "ayu@example.com",
        "wayan@example.com",
        "Sunny-Ubud-Rice-2026",
        "eyJhbGciOiJIUzI1NiJ9",
        "$argon2id$",
        "812 3456 7890",
    ):
        assert secret not in logged


def test_an_authors_edit_of_an_approved_review_goes_back_to_moderation(make_app):
    app = make_app(REVIEWS_REQUIRE_MODERATION="true")
    client = app.test_client()
    author = token_for(app, create_user(app, username="nyoman"))
    moderator = token_for(app, create_user(app, username="mod", role="moderator"), role="moderator")
    created = review(client, author).get_json()
    url = f"/api/v1/reviews/{created['id']}"
    assert client.patch(url, headers=moderator, json={"status": "published"}).status_code == 200
    assert len(client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()["items"]) == 1

    edited = client.patch(url, headers=author, json={"content": "Now with a spam link, pending."})

    assert edited.get_json()["status"] == "pending"
    assert client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()["items"] == []
