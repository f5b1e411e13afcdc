"""Signed webhooks: secrets, SSRF guard, delivery with retries, recorded attempts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from typing import Any

import pytest

from tests.conftest import running_worker, sql, token_for, wait_for_job
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_inquiries import VALID

TOLERANCE_SECONDS = 300


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
    assert chatty_attempt["status_code"] == 200
    excerpts = sql(
        app, "SELECT length(response_excerpt) FROM webhook_attempts WHERE status_code = 200"
    )
    assert excerpts == [(512,)]  # a prefix is kept, not the 100 kB answer


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
