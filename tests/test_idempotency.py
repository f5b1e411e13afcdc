"""Idempotency-Key on submitting endpoints: replay, reuse with another body, in flight."""

from __future__ import annotations

import threading
import time
import uuid

from api.blog import service as blog_service
from api.extensions import security_store
from api.maintenance import BY_NAME
from tests.conftest import (
    REDIS_DB_BROKER,
    REDIS_PORT,
    running_worker,
    sql,
    token_for,
    wait_for_job,
)
from tests.support.tcp_proxy import TcpProxy
from tests.test_auth import register
from tests.test_blog import POST
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as ITINERARY
from tests.test_media import jpeg_with_exif, png_with_alpha, upload
from tests.test_reviews import REVIEW


def test_same_key_and_body_creates_one_job_and_one_email(app, client, worker, tmp_path):
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    first = client.post("/api/v1/inquiries", json=VALID, headers=headers)
    wait_for_job(client, first.headers["Location"])
    second = client.post("/api/v1/inquiries", json=dict(reversed(VALID.items())), headers=headers)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["status"] == "succeeded"
    assert sql(app, "SELECT count(*) FROM jobs")[0][0] == 1
    assert sql(app, "SELECT count(*) FROM inquiries")[0][0] == 1
    assert len(list((tmp_path / "outbox").glob("*.company*.eml"))) == 1


def test_same_key_with_another_body_is_422(app, client):
    headers = {"Idempotency-Key": "order-42"}
    client.post("/api/v1/inquiries", json=VALID, headers=headers)

    response = client.post("/api/v1/inquiries", json={**VALID, "group_size": 5}, headers=headers)

    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_key_reused"
    assert sql(app, "SELECT count(*) FROM jobs")[0][0] == 1


def test_keys_are_per_caller(app, client):
    headers = {"Idempotency-Key": "same-key"}
    first = client.post("/api/v1/inquiries", json=VALID, headers=headers)
    second = client.post(
        "/api/v1/inquiries", json=VALID, headers=headers, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )

    assert second.status_code == 202
    assert second.get_json()["id"] != first.get_json()["id"]


def test_invalid_key_is_400(client):
    response = client.post(
        "/api/v1/inquiries", json=VALID, headers={"Idempotency-Key": "has spaces in it"}
    )

    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_idempotency_key"


def test_same_key_while_the_first_request_is_in_flight_is_409(make_app, base_env):
    proxy = TcpProxy(REDIS_PORT, delay=0.5).start()  # a slow broker keeps the first request busy
    app = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{proxy.port}/{REDIS_DB_BROKER}")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    answers: list[int] = []

    def post() -> None:
        answers.append(
            app.test_client().post("/api/v1/inquiries", json=VALID, headers=headers).status_code
        )

    try:
        first = threading.Thread(target=post)
        first.start()
        assert proxy.traffic.wait(10), "the first request never reached the broker"
        post()
        first.join(20)
    finally:
        proxy.stop()

    assert answers == [409, 202]
    assert sql(app, "SELECT count(*) FROM jobs")[0][0] == 1


# --- every creating POST, through the one mechanism (api/idempotency.py) -------------------


def _replayed(first, second) -> None:
    assert second.status_code == first.status_code
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()


def test_register_replays_the_first_answer_and_creates_one_account(app, client):
    headers = {"Idempotency-Key": "signup-1"}

    first = register(client, headers=headers)
    second = register(client, headers=headers)

    assert first.status_code == 201
    _replayed(first, second)
    assert sql(app, "SELECT count(*) FROM users")[0][0] == 1
    assert sql(app, "SELECT count(*) FROM jobs WHERE kind = 'email'")[0][0] == 1


def test_a_post_with_a_reused_key_and_another_body_is_422_and_writes_nothing(app, client):
    me = {**token_for(app), "Idempotency-Key": "post-1"}

    first = client.post("/api/v1/posts", json=POST, headers=me)
    again = client.post("/api/v1/posts", json=POST, headers=me)
    other = client.post("/api/v1/posts", json={**POST, "title": "Another"}, headers=me)

    assert first.status_code == 201
    _replayed(first, again)
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert sql(app, "SELECT count(*) FROM posts")[0][0] == 1


def test_a_review_replay_is_201_not_the_duplicate_409(app, client):
    me = token_for(app)
    keyed = {**me, "Idempotency-Key": "review-1"}

    first = client.post("/api/v1/reviews", json=REVIEW, headers=keyed)
    again = client.post("/api/v1/reviews", json=REVIEW, headers=keyed)
    unkeyed = client.post("/api/v1/reviews", json=REVIEW, headers=me)

    assert first.status_code == 201
    _replayed(first, again)
    assert unkeyed.status_code == 409


def test_chat_replays_the_same_reply_and_conversation(client):
    headers = {"Idempotency-Key": "chat-1"}
    body = {"message": "What is there to do in Ubud?"}

    first = client.post("/api/v1/chat", json=body, headers=headers)
    again = client.post("/api/v1/chat", json=body, headers=headers)

    assert first.status_code == 200
    _replayed(first, again)


def test_the_itinerary_email_is_one_job_per_key(app, client):
    me = token_for(app)
    job = client.post("/api/v1/itineraries", json=ITINERARY, headers=me)
    assert job.status_code == 202
    with running_worker(app):
        wait_for_job(client, job.headers["Location"], headers=me)
    itinerary_id = sql(app, "SELECT id FROM itineraries")[0][0]
    url = f"/api/v1/itineraries/{itinerary_id}/email"
    keyed = {**me, "Idempotency-Key": "mail-me"}

    first = client.post(url, headers=keyed)
    again = client.post(url, headers=keyed)

    assert first.status_code == 202
    assert again.status_code == 200  # a job: replayed as it is now
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert sql(app, "SELECT count(*) FROM jobs WHERE kind = 'email'")[0][0] == 1


def test_a_media_upload_replays_by_the_bytes_sent(app, client):
    me = {**token_for(app), "Idempotency-Key": "upload-1"}

    first = upload(client, me, jpeg_with_exif())
    again = upload(client, me, jpeg_with_exif())
    other = upload(client, me, png_with_alpha())

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert sql(app, "SELECT count(*) FROM media")[0][0] == 1


def test_a_rejected_request_keeps_no_key(app, client):
    me = {**token_for(app), "Idempotency-Key": "post-bad"}

    rejected = client.post("/api/v1/posts", json={**POST, "title": ""}, headers=me)
    fixed = client.post("/api/v1/posts", json=POST, headers=me)

    assert rejected.status_code == 422
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers
    assert sql(app, "SELECT count(*) FROM idempotency_records")[0][0] == 1


def test_keys_are_bounded_to_255_characters(app, client):
    me = token_for(app)

    too_long = client.post("/api/v1/posts", json=POST, headers={**me, "Idempotency-Key": "k" * 256})
    longest = client.post("/api/v1/posts", json=POST, headers={**me, "Idempotency-Key": "k" * 255})

    assert too_long.status_code == 400
    assert too_long.get_json()["code"] == "invalid_idempotency_key"
    assert longest.status_code == 201


def test_keys_expire_after_the_ttl(app, client):
    me = {**token_for(app), "Idempotency-Key": "post-old"}
    first = client.post("/api/v1/posts", json=POST, headers=me)
    sql(app, "UPDATE idempotency_records SET created_at = now() - interval '25 hours'")

    reused = client.post("/api/v1/posts", json={**POST, "title": "A new one"}, headers=me)
    sql(app, "UPDATE idempotency_records SET created_at = now() - interval '25 hours'")
    with app.app_context():
        purged = BY_NAME["purge-idempotency-keys"].run()

    assert first.status_code == reused.status_code == 201
    assert reused.get_json()["id"] != first.get_json()["id"]
    assert purged == 1
    assert sql(app, "SELECT count(*) FROM idempotency_records")[0][0] == 0


def test_concurrent_duplicates_without_the_cache_make_one_post(app, monkeypatch):
    """The in-flight marker is down: the record's primary key alone makes one effect; the
    duplicate waits for the first insert and then replays its answer."""
    entered, release = threading.Event(), threading.Event()
    original = blog_service.create

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("cache down")

    def slow_create(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    with app.app_context():
        monkeypatch.setattr(type(security_store.current), "add", unreachable)
    monkeypatch.setattr(blog_service, "create", slow_create)
    headers = {**token_for(app), "Idempotency-Key": "race-1"}
    answers: dict[str, object] = {}

    def post(name: str) -> None:
        answers[name] = app.test_client().post("/api/v1/posts", json=POST, headers=headers)

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert entered.wait(30)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    _wait_for_a_backend_waiting_on_a_lock(app)  # the duplicate's insert waits on the first
    release.set()
    first.join(30)
    second.join(30)

    assert answers["first"].status_code == answers["second"].status_code == 201
    assert answers["second"].headers["Idempotent-Replayed"] == "true"
    assert answers["second"].get_json()["id"] == answers["first"].get_json()["id"]
    assert sql(app, "SELECT count(*) FROM posts")[0][0] == 1


def _wait_for_a_backend_waiting_on_a_lock(app, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = sql(
            app,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )[0][0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the duplicate never waited on the first request's key")
