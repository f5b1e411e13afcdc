"""Signed webhooks: secrets, SSRF guard, delivery with retries, recorded attempts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api.jobs.kinds import QUEUES, WEBHOOKS_QUEUE
from api.maintenance import BY_NAME
from tests.conftest import WorkerProcess, running_worker, sql, token_for, wait_for_job
from tests.support.tls import TestAuthority
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as ITINERARY
from tests.test_media import jpeg_with_exif, upload

TOLERANCE_SECONDS = 300
DEADLINE_SECONDS = 2  # WEBHOOK_TIMEOUT_SECONDS in the tarpit tests
DEADLINE_MARGIN_MS = 500  # recording the attempt and a busy machine, not the peer's pace
ALL_BUT_WEBHOOKS = tuple(queue for queue in QUEUES if queue != WEBHOOKS_QUEUE)


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side of the Standard Webhooks spec, written from the spec."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.split("_", 1)[1])
    timestamp = int(headers["webhook-timestamp"])
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(signature.split(",", 1)[1], expected)
        for signature in headers["webhook-signature"].split()
        if signature.startswith("v1,")
    )


def wait_for_deliveries(app: Flask, timeout: float = 30) -> list[str]:
    """The deliveries' statuses once none is `pending` any more (or as they are at the timeout),
    oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = [
            str(row[0])
            for row in sql(app, "SELECT status FROM webhook_deliveries ORDER BY created_at")
        ]
        if (statuses and "pending" not in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def republished_by_the_sweeper(app: Flask) -> int:
    with app.app_context():
        return int(BY_NAME["sweep-jobs"].run().webhooks_republished)


@pytest.fixture
def hook_app(make_app):
    return make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_RETRY_BASE_DELAY="1")


def test_secret_is_created_once_and_rotates(app, client):
    headers = token_for(app)

    first = client.get("/api/v1/webhooks/secret", headers=headers).get_json()["secret"]
    again = client.get("/api/v1/webhooks/secret", headers=headers).get_json()["secret"]
    rotated = client.post("/api/v1/webhooks/secret/rotate", headers=headers).get_json()["secret"]

    assert first == again
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert rotated != first
    assert client.get("/api/v1/webhooks/secret").status_code == 401
    other = client.get("/api/v1/webhooks/secret", headers=token_for(app)).get_json()["secret"]
    assert other not in {first, rotated}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8080/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.10/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/",
        "http://user:pass@example.com/hook",
        "ftp://example.com/hook",
        "http://name-that-does-not-resolve.invalid/hook",
    ],
)
def test_callback_urls_to_private_or_odd_targets_are_422(app, client, url):
    response = client.post(
        "/api/v1/inquiries", json={**VALID, "callback_url": url}, headers=token_for(app)
    )

    assert response.status_code == 422
    assert "callback_url" in response.get_json()["errors"]
    assert sql(app, "SELECT count(*) FROM jobs")[0][0] == 0


TRANSITION_URLS = [
    "http://[64:ff9b::7f00:1]/hook",  # NAT64, well-known prefix: 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64: 169.254.169.254
    "http://[64:ff9b:1::a00:7]/hook",  # NAT64, local-use prefix: 10.0.0.7
    "http://[2002:7f00:1::]/",  # 6to4: 127.0.0.1
    "http://[2002:c0a8:10a::1]:8080/hook",  # 6to4: 192.168.1.10
    "http://[::127.0.0.1]/",  # IPv4-compatible: 127.0.0.1
    "http://[::7f00:1]/hook",  # the same, written in hex
    "http://[::a9fe:a9fe]/latest/meta-data/",  # IPv4-compatible: 169.254.169.254
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated (SIIT): 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
]


@pytest.mark.parametrize("url", TRANSITION_URLS)
def test_ssrf_ipv6_transition_literals_are_422(make_app, url):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")  # the default, said out loud
    response = app.test_client().post(
        "/api/v1/inquiries", json={**VALID, "callback_url": url}, headers=token_for(app)
    )

    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["errors"]["callback_url"]
    assert sql(app, "SELECT count(*) FROM jobs")[0][0] == 0


# What the attacker's DNS zone would answer. The callback URL is resolved in the API process,
# which is this test process, so replacing socket.getaddrinfo here stands in for that zone
# without any network.
ZONE = {
    "nat64.hooks.test": ["64:ff9b::a9fe:a9fe"],
    "local-nat64.hooks.test": ["64:ff9b:1::7f00:1"],
    "sixtofour.hooks.test": ["2002:a00:7::1"],
    "compatible.hooks.test": ["::7f00:1"],
    "teredo.hooks.test": ["2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    "mixed.hooks.test": ["2606:4700:4700::1111", "64:ff9b::7f00:1"],  # one bad answer is enough
    "public.hooks.test": ["2606:4700:4700::1111", "1.1.1.1"],
}


def serve_zone(monkeypatch: pytest.MonkeyPatch, zone: dict[str, list[str]]) -> None:
    """Answer getaddrinfo for the zone's names, in this process only (the API and the tests'
    thread-pool workers); other names resolve as usual."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in zone:
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in zone[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def attacker_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    serve_zone(monkeypatch, ZONE)


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    serve_zone(
        monkeypatch, {"receiver.hooks.test": ["127.0.0.1"], "impostor.hooks.test": ["127.0.0.1"]}
    )


@pytest.fixture
def test_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestAuthority:
    authority = TestAuthority(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))  # the default trust: this CA
    return authority


@pytest.mark.parametrize("name", sorted(set(ZONE) - {"public.hooks.test"}))
def test_ssrf_names_resolving_to_ipv6_transition_addresses_are_422(make_app, attacker_zone, name):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    response = app.test_client().post(
        "/api/v1/inquiries",
        json={**VALID, "callback_url": f"https://{name}/hook"},
        headers=token_for(app),
    )

    assert response.status_code == 422
    assert response.get_json()["errors"]["callback_url"] == [
        "The host resolves to a private or reserved address."
    ]


def test_names_resolving_to_public_ipv6_addresses_are_accepted(make_app, attacker_zone):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    response = app.test_client().post(
        "/api/v1/inquiries",
        json={**VALID, "callback_url": "https://public.hooks.test/hook"},
        headers=token_for(app),
    )

    assert response.status_code == 202


def test_anonymous_callers_cannot_ask_for_webhooks(hook_app):
    response = hook_app.test_client().post(
        "/api/v1/inquiries", json={**VALID, "callback_url": "http://127.0.0.1:9/hook"}
    )

    assert response.status_code == 422
    assert response.get_json()["errors"]["callback_url"] == ["Sign in to receive webhooks."]


def test_signed_delivery_with_a_retry_after_a_500(hook_app):
    client = hook_app.test_client()
    headers = token_for(hook_app)
    secret = client.get("/api/v1/webhooks/secret", headers=headers).get_json()["secret"]
    with WebhookReceiver() as receiver, running_worker(hook_app):
        receiver.statuses = [500]
        response = client.post(
            "/api/v1/inquiries",
            json={**VALID, "callback_url": f"{receiver.url}/hooks/bali?src=test"},
            headers=headers,
        )
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        deliveries = receiver.wait_for(2)

    assert len(deliveries) == 2
    first, second = deliveries
    assert first.path == second.path == "/hooks/bali?src=test"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for delivery in deliveries:
        assert verify_standard_webhook(secret, delivery.headers, delivery.body)
        assert delivery.headers["content-type"] == "application/json"
    payload = json.loads(second.body)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == job["id"]
    assert payload["data"]["status"] == "succeeded"
    assert payload["timestamp"].endswith("Z")
    attempts = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 204)]
    assert attempts[-1]["delivery_status"] == "succeeded"
    assert attempts[0]["webhook_id"] == first.headers["webhook-id"]


def test_a_rotated_secret_signs_later_deliveries(hook_app):
    client = hook_app.test_client()
    headers = token_for(hook_app)
    client.get("/api/v1/webhooks/secret", headers=headers)
    rotated = client.post("/api/v1/webhooks/secret/rotate", headers=headers).get_json()["secret"]
    with WebhookReceiver() as receiver, running_worker(hook_app):
        client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
        )
        [delivery] = receiver.wait_for(1)

    assert verify_standard_webhook(rotated, delivery.headers, delivery.body)


def test_redirects_are_not_followed_and_attempts_stop_at_the_maximum(make_app):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_RETRY_BASE_DELAY="0",
        WEBHOOK_MAX_ATTEMPTS="2",
    )
    client = app.test_client()
    headers = token_for(app)
    with WebhookReceiver() as target, WebhookReceiver() as receiver, running_worker(app):
        receiver.statuses = [302, 302]
        receiver.redirect_to = f"{target.url}/stolen"
        response = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
        )
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        receiver.wait_for(2)
        time.sleep(1)

    assert target.received == []
    attempts = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
    assert [a["status_code"] for a in attempts] == [302, 302]
    assert attempts[-1]["delivery_status"] == "failed"


def test_slow_receivers_time_out_and_long_answers_are_cut(make_app):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_TIMEOUT_SECONDS="1",
        WEBHOOK_MAX_ATTEMPTS="1",
    )
    client = app.test_client()
    headers = token_for(app)
    with WebhookReceiver() as slow, WebhookReceiver() as chatty, running_worker(app):
        slow.delay = 3
        chatty.response_body = b"x" * 100_000
        chatty.statuses = [200]
        slow_job = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": slow.url}, headers=headers
        ).get_json()
        chatty_job = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": chatty.url}, headers=headers
        ).get_json()
        chatty.wait_for(1)
        slow.wait_for(1)
        time.sleep(2.5)

    [timed_out] = client.get(
        f"/api/v1/jobs/{slow_job['id']}/deliveries", headers=headers
    ).get_json()
    assert timed_out["status_code"] is None
    assert "timed out" in timed_out["error"].lower()
    [chatty_attempt] = client.get(
        f"/api/v1/jobs/{chatty_job['id']}/deliveries", headers=headers
    ).get_json()
    assert chatty_attempt["status_code"] == 200, chatty_attempt["error"]
    excerpts = sql(
        app, "SELECT length(response_excerpt) FROM webhook_attempts WHERE status_code = 200"
    )
    assert excerpts == [(512,)]  # a prefix is kept, not the 100 kB answer


@pytest.mark.parametrize("mode", ["drip-status", "drip-headers", "drip-body", "hang"])
def test_webhook_tarpit_attempts_end_at_the_deadline_and_the_delivery_fails(make_app, mode):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_TIMEOUT_SECONDS=str(DEADLINE_SECONDS),
        WEBHOOK_MAX_ATTEMPTS="2",
        WEBHOOK_RETRY_BASE_DELAY="0",
    )
    client = app.test_client()
    headers = token_for(app)
    with WebhookReceiver() as tarpit, running_worker(app):
        tarpit.mode = mode  # every read gets a byte in time; the answer never completes
        response = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": tarpit.url}, headers=headers
        )
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        [status] = wait_for_deliveries(app)

    assert status == "failed"
    assert len(tarpit.received) == 2
    attempts = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
    assert [a["attempt"] for a in attempts] == [1, 2]
    for attempt in attempts:
        assert attempt["status_code"] is None
        assert attempt["error"].startswith(
            f"timed out: no complete answer within {DEADLINE_SECONDS} s"
        )
        # The bound the system promises, whatever the peer does: not a benchmark.
        assert attempt["duration_ms"] <= DEADLINE_SECONDS * 1000 + DEADLINE_MARGIN_MS
    assert attempts[-1]["delivery_status"] == "failed"
    # Nothing is left to republish, however late the sweeper comes.
    sql(app, "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour'")
    assert republished_by_the_sweeper(app) == 0


def test_webhook_attempts_counted_by_dead_workers_are_not_repeated_past_the_maximum(make_app):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_MAX_ATTEMPTS="2",
        WEBHOOK_RETRY_BASE_DELAY="0",
    )
    client = app.test_client()
    headers = token_for(app)
    with WebhookReceiver() as receiver:
        with running_worker(app, queues=ALL_BUT_WEBHOOKS):
            response = client.post(
                "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
            )
            wait_for_job(client, response.headers["Location"], headers=headers)
        # Both attempts were claimed (so counted) by workers that died mid-attempt, and their
        # claims ran out long ago: the delivery is pending and overdue.
        sql(
            app,
            "UPDATE webhook_deliveries SET attempts = 2, "
            "next_attempt_at = now() - interval '10 minutes'",
        )
        assert republished_by_the_sweeper(app) == 1
        with running_worker(app, queues=(WEBHOOKS_QUEUE,)):
            [status] = wait_for_deliveries(app, timeout=10)
        assert republished_by_the_sweeper(app) == 0

    assert status == "failed"
    assert receiver.received == []  # failed by the claim, not attempted a third time


def test_webhook_attempt_of_a_killed_worker_is_counted_and_recorded(make_app, base_env):
    env = {
        **base_env,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_MAX_ATTEMPTS": "2",
        "WEBHOOK_RETRY_BASE_DELAY": "0",
    }
    app = make_app(**env)
    client = app.test_client()
    headers = token_for(app)
    with WebhookReceiver() as receiver:
        receiver.mode, receiver.drip_seconds = "hang", 60
        with running_worker(app, queues=ALL_BUT_WEBHOOKS):
            response = client.post(
                "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
            )
            job = wait_for_job(client, response.headers["Location"], headers=headers)
        first = WorkerProcess(env, queues=(WEBHOOKS_QUEUE,))
        try:
            assert receiver.wait_for(1), "the first worker never reached the receiver"
            first.kill()  # mid-attempt, before it could record anything
        finally:
            first.stop()
        assert sql(app, "SELECT status, attempts FROM webhook_deliveries") == [("pending", 1)]

        receiver.mode = "answer"
        sql(app, "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '10 minutes'")
        assert republished_by_the_sweeper(app) == 1
        with running_worker(app, queues=(WEBHOOKS_QUEUE,)):
            [status] = wait_for_deliveries(app, timeout=10)

    assert status == "succeeded"
    assert len(receiver.received) == 2
    attempts = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, None), (2, 204)]
    assert attempts[0]["error"].startswith("interrupted")
    assert attempts[1]["error"] is None


def test_https_deliveries_verify_the_certificate_against_the_urls_host(
    make_app, test_ca, local_zone
):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_MAX_ATTEMPTS="1")
    client = app.test_client()
    headers = token_for(app)
    with (
        WebhookReceiver(tls=test_ca.server_context("receiver.hooks.test")) as receiver,
        running_worker(app),
    ):
        jobs = [
            client.post(
                "/api/v1/inquiries",
                json={**VALID, "callback_url": f"https://{name}:{receiver.port}/hook"},
                headers=headers,
            ).get_json()
            for name in ("receiver.hooks.test", "impostor.hooks.test")  # one server, one name
        ]
        for job in jobs:
            wait_for_job(client, f"/api/v1/jobs/{job['id']}", headers=headers)
        wait_for_deliveries(app)

    [delivered] = receiver.received
    assert delivered.headers["host"] == f"receiver.hooks.test:{receiver.port}"
    [genuine], [impostor] = (
        client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
        for job in jobs
    )
    assert (genuine["status_code"], genuine["error"]) == (204, None)
    assert impostor["status_code"] is None
    assert "certificate verify failed" in impostor["error"]
    assert impostor["delivery_status"] == "failed"


def test_webhook_tarpit_in_the_tls_handshake_ends_at_the_deadline(make_app, test_ca, local_zone):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_TIMEOUT_SECONDS=str(DEADLINE_SECONDS),
        WEBHOOK_MAX_ATTEMPTS="1",
    )
    client = app.test_client()
    headers = token_for(app)
    with (
        WebhookReceiver(tls=test_ca.server_context("receiver.hooks.test")) as tarpit,
        running_worker(app),
    ):
        tarpit.mode = "hang-handshake"
        response = client.post(
            "/api/v1/inquiries",
            json={**VALID, "callback_url": f"https://receiver.hooks.test:{tarpit.port}/"},
            headers=headers,
        )
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        [status] = wait_for_deliveries(app)

    assert status == "failed"
    [attempt] = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=headers).get_json()
    assert attempt["error"].startswith("timed out: no complete answer within")
    assert attempt["duration_ms"] <= DEADLINE_SECONDS * 1000 + DEADLINE_MARGIN_MS


def test_a_canceled_job_sends_job_canceled(hook_app):
    client = hook_app.test_client()
    headers = token_for(hook_app)
    with WebhookReceiver() as receiver:
        job = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
        ).get_json()
        client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=headers)
        with running_worker(hook_app):
            [delivery] = receiver.wait_for(1)

    assert json.loads(delivery.body)["type"] == "job.canceled"


def test_deliveries_of_someone_elses_job_are_404(hook_app):
    client = hook_app.test_client()
    owner = token_for(hook_app)
    job = client.post("/api/v1/inquiries", json=VALID, headers=owner).get_json()

    assert client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=owner).get_json() == []
    other = client.get(f"/api/v1/jobs/{job['id']}/deliveries", headers=token_for(hook_app))
    assert other.status_code == 404


# --- callback_url on every submission: media uploads and the itinerary email --------------


def test_a_media_upload_with_a_callback_gets_a_signed_webhook(hook_app):
    client = hook_app.test_client()
    headers = token_for(hook_app)
    secret = client.get("/api/v1/webhooks/secret", headers=headers).get_json()["secret"]
    with WebhookReceiver() as receiver, running_worker(hook_app):
        response = upload(client, headers, jpeg_with_exif(), callback_url=receiver.url)
        assert response.status_code == 202, response.get_json()
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        (delivery,) = receiver.wait_for(1)

    assert verify_standard_webhook(secret, delivery.headers, delivery.body)
    payload = json.loads(delivery.body)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == job["id"]
    assert payload["data"]["kind"] == "media"


def test_the_itinerary_email_with_a_callback_gets_a_signed_webhook(hook_app):
    client = hook_app.test_client()
    headers = token_for(hook_app)
    secret = client.get("/api/v1/webhooks/secret", headers=headers).get_json()["secret"]
    with WebhookReceiver() as receiver, running_worker(hook_app):
        trip = client.post("/api/v1/itineraries", json=ITINERARY, headers=headers)
        made = wait_for_job(client, trip.headers["Location"], headers=headers)
        url = f"/api/v1/itineraries/{made['result']['itinerary_id']}/email"
        response = client.post(url, json={"callback_url": receiver.url}, headers=headers)
        assert response.status_code == 202, response.get_json()
        job = wait_for_job(client, response.headers["Location"], headers=headers)
        (delivery,) = receiver.wait_for(1)

    assert verify_standard_webhook(secret, delivery.headers, delivery.body)
    payload = json.loads(delivery.body)
    assert payload["data"]["id"] == job["id"]
    assert payload["data"]["kind"] == "email"


def test_the_itinerary_email_still_needs_no_body(app, client, worker):
    headers = token_for(app)
    trip = client.post("/api/v1/itineraries", json=ITINERARY, headers=headers)
    made = wait_for_job(client, trip.headers["Location"], headers=headers)

    response = client.post(
        f"/api/v1/itineraries/{made['result']['itinerary_id']}/email", headers=headers
    )

    assert response.status_code == 202
    assert sql(app, "SELECT callback_url FROM jobs WHERE kind = 'email'") == [(None,)]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "ftp://hooks.example.com/x", "https://" + "a" * 1100]
)
def test_private_or_odd_callbacks_on_uploads_and_the_itinerary_email_are_422(app, client, url):
    headers = token_for(app)
    itinerary_id = sql(app, "SELECT gen_random_uuid()")[0][0]

    uploaded = upload(client, headers, jpeg_with_exif(), callback_url=url)
    emailed = client.post(
        f"/api/v1/itineraries/{itinerary_id}/email", json={"callback_url": url}, headers=headers
    )

    assert uploaded.status_code == 422
    assert "callback_url" in uploaded.get_json()["errors"]
    assert emailed.status_code == 422
    assert "callback_url" in emailed.get_json()["errors"]
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)]
