"""Callback URLs that would make the service call itself or its network: every spelling of a
private address, names resolving to one, and a name that changes its answer between the
check and the delivery (DNS rebinding). tests/test_webhooks.py covers the plain private
ranges, the IPv6 transition prefixes and redirects; this file adds the rest."""

from __future__ import annotations

import time

import pytest

from api.integrations.http import is_public, resolve_target
from tests.conftest import running_worker, sql, token_for, wait_for_job
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_inquiries import VALID
from tests.test_webhooks import serve_zone

SPELLINGS = [
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://017700000001/",  # the same in octal
    "http://0x7f000001/",  # and in hex
    "http://0177.0.0.1/",  # octal first byte
    "http://0x7f.0.0.1/",  # hex first byte
    "http://0x7f.1/",  # two parts, hex
    "http://127.1/",  # short forms
    "http://127.0.1/",
    "http://0/",  # 0.0.0.0
    "http://0x0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",  # the same in hex
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:10.0.0.1]/",
    "http://[0:0:0:0:0:ffff:192.168.0.1]/",
    "http://[fe80::1]/",  # link-local
    "http://[fe80::1%25eth0]/",  # with a zone
    "http://[fc00::1]/",  # unique local
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",  # multicast
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://198.18.0.1/",  # benchmarking
    "http://192.0.0.1/",  # IETF protocol assignments
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",  # broadcast
    "http://169.254.169.254/",  # cloud metadata
    "http://LOCALHOST/",
    "http://localhost./",
    "http://127.0.0.1.:8080/",
    "http://1.1.1.1@127.0.0.1/",  # credentials: also refused on their own
    "http://127.0.0.1#@1.1.1.1/",  # the host is before the fragment
    "http://127.0.0.1:80\\@1.1.1.1/",
    "http://[64:ff9b::127.0.0.1]/",  # NAT64 written with a dotted tail
    "http://[2002:7f00:1::1]/",  # 6to4
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "file:///etc/passwd",
    "http:///nohost",
    "http://metadata.google.internal/",
]

ZONE = {
    "decimal.hooks.test": ["127.0.0.1"],
    "metadata.hooks.test": ["169.254.169.254"],
    "mapped.hooks.test": ["::ffff:127.0.0.1"],
    "cgnat.hooks.test": ["100.64.0.1"],
    "nat64.hooks.test": ["64:ff9b::a00:1"],
    "sixtofour.hooks.test": ["2002:c0a8:101::1"],
    "link-local.hooks.test": ["fe80::1"],
    "round-robin.hooks.test": ["1.1.1.1", "10.0.0.1"],  # one private answer is enough
}


def assert_refused(app, url: str) -> None:
    response = app.test_client().post(
        "/api/v1/inquiries", json={**VALID, "callback_url": url}, headers=token_for(app)
    )
    assert response.status_code == 422, (url, response.status_code)
    assert response.headers["Content-Type"] == "application/problem+json", url
    assert response.get_json()["errors"]["callback_url"], url
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)], url


@pytest.fixture
def guarded_app(make_app):
    return make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")  # the default, said out loud


def test_every_spelling_of_a_private_address_is_refused(guarded_app):
    for url in SPELLINGS:
        assert_refused(guarded_app, url)


def test_names_resolving_to_private_addresses_are_refused(guarded_app, monkeypatch):
    serve_zone(monkeypatch, ZONE)
    for name in ZONE:
        assert_refused(guarded_app, f"https://{name}/hook")


@pytest.mark.parametrize(
    "address", sorted({a for answers in ZONE.values() for a in answers} - {"1.1.1.1"})
)
def test_the_guard_itself_refuses_each_address(address):
    assert not is_public(address)


def test_a_name_rebound_to_loopback_after_the_check_is_never_called(guarded_app, monkeypatch):
    """The name is public when the job is submitted and loopback when the webhook goes out:
    the delivery resolves again, refuses, and the loopback receiver hears nothing."""
    zone = {"rebind.hooks.test": ["93.184.216.34"]}
    serve_zone(monkeypatch, zone)
    client = guarded_app.test_client()
    headers = token_for(guarded_app)
    with WebhookReceiver() as receiver:
        url = f"http://rebind.hooks.test:{receiver.port}/hook"
        assert resolve_target(url, allow_private=False).address == "93.184.216.34"
        response = client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": url}, headers=headers
        )
        assert response.status_code == 202, response.get_json()
        zone["rebind.hooks.test"] = ["127.0.0.1"]  # the attacker's zone changes its answer
        with running_worker(guarded_app):
            job = wait_for_job(client, response.headers["Location"], headers=headers)
            attempts = wait_for_attempts(client, job["id"], headers)
        assert receiver.received == []  # the attempt is recorded: it was made, and refused

    assert attempts[-1]["delivery_status"] == "failed"
    assert attempts[-1]["status_code"] is None
    assert "private or reserved" in attempts[-1]["error"]


def wait_for_attempts(client, job_id: str, headers, timeout: float = 60) -> list[dict]:
    """The recorded attempts once the delivery is over (its own status is the signal)."""
    deadline = time.monotonic() + timeout
    while True:
        attempts = client.get(f"/api/v1/jobs/{job_id}/deliveries", headers=headers).get_json()
        if attempts and attempts[-1]["delivery_status"] in {"failed", "delivered"}:
            return attempts
        assert time.monotonic() < deadline, attempts
        time.sleep(0.2)
