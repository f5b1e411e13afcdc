"""Rate limits count signed-in callers by user and anonymous ones by client address."""

from __future__ import annotations

import pytest

from tests.conftest import token_for

OFFICE, HOME, CAFE = "203.0.113.7", "198.51.100.20", "192.0.2.99"


def status_from(client, address, headers=None, *, through_proxy=False):
    """GET /auth/me from `address`: the socket's peer, or (behind the trusted proxy at
    127.0.0.1) the address the proxy puts in X-Forwarded-For."""
    if through_proxy:
        headers = {**(headers or {}), "X-Forwarded-For": address}
        environ = {"REMOTE_ADDR": "127.0.0.1"}
    else:
        environ = {"REMOTE_ADDR": address}
    return client.get("/api/v1/auth/me", headers=headers, environ_base=environ).status_code


@pytest.mark.parametrize("through_proxy", [False, True])
def test_two_users_behind_one_address_each_get_their_own_budget(make_app, through_proxy):
    proxies = {"TRUSTED_PROXY_COUNT": "1"} if through_proxy else {}
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="3 per hour", **proxies)
    client = app.test_client()
    ayu, budi = token_for(app), token_for(app)

    ayus = [status_from(client, OFFICE, ayu, through_proxy=through_proxy) for _ in range(4)]
    budis = [status_from(client, OFFICE, budi, through_proxy=through_proxy) for _ in range(3)]
    anonymous = [status_from(client, OFFICE, through_proxy=through_proxy) for _ in range(4)]
    elsewhere = status_from(client, CAFE, through_proxy=through_proxy)

    assert ayus == [200, 200, 200, 429]
    assert budis == [200, 200, 200]  # Ayu's refusal did not spend Budi's budget
    assert anonymous == [401, 401, 401, 429]  # anonymous callers share the address's budget
    assert elsewhere == 401  # another address has its own


def test_one_user_across_two_addresses_shares_one_budget(make_app):
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="3 per hour")
    client = app.test_client()
    ayu = token_for(app)

    answers = [status_from(client, address, ayu) for address in (OFFICE, HOME, OFFICE, HOME)]

    assert answers == [200, 200, 200, 429]
    refused = client.get("/api/v1/auth/me", headers=ayu, environ_base={"REMOTE_ADDR": CAFE})
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


def test_forwarded_for_is_ignored_unless_the_app_trusts_a_proxy(make_app):
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="2 per hour")
    client = app.test_client()

    spoofed = [
        client.get(
            "/api/v1/auth/me",
            headers={"X-Forwarded-For": f"10.0.0.{n}"},
            environ_base={"REMOTE_ADDR": OFFICE},
        ).status_code
        for n in range(3)
    ]

    assert spoofed == [401, 401, 429]  # a made-up header buys no new budget


def test_a_bad_token_is_counted_by_address_and_still_refused(make_app):
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="2 per hour")
    client = app.test_client()
    forged = {"Authorization": "Bearer not.a.token"}

    answers = [status_from(client, OFFICE, forged) for _ in range(2)]
    anonymous = status_from(client, OFFICE)

    assert answers == [401, 401]
    assert anonymous == 429  # the forged tokens were counted against the address
