"""Idempotency-Key on submitting endpoints: replay, reuse with another body, in flight."""

from __future__ import annotations

import threading
import uuid

from tests.conftest import REDIS_DB_BROKER, REDIS_PORT, sql, wait_for_job
from tests.support.tcp_proxy import TcpProxy
from tests.test_inquiries import VALID


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
