"""Rate limits hold under a burst: concurrent requests from one client, or from one user
spread over many addresses, across two web processes sharing the store, get exactly the
budget and no more (the count is one atomic increment in Redis, never read-then-write)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from flask import Flask

from tests.conftest import token_for

BUDGET = 7
BURST = 40
THREADS = 8


def burst(apps: list[Flask], send: Callable[[Flask, int], int]) -> Counter[int]:
    """BURST requests from THREADS threads released together, alternating between the apps
    (two web processes behind one load balancer): the statuses they got."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)
    numbers = iter(range(BURST))

    def run() -> None:
        start.wait()
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            status = send(apps[n % len(apps)], n)
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def limited_apps(make_app: Callable[..., Flask], **settings: str) -> list[Flask]:
    return [
        make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT=f"{BUDGET} per hour", **settings)
        for _ in range(2)
    ]


def test_a_burst_from_one_client_gets_exactly_its_budget(make_app):
    apps = limited_apps(make_app)

    def send(app: Flask, n: int) -> int:
        return (
            app.test_client()
            .get(
                "/api/v1/auth/me",
                headers={"X-Forwarded-For": f"10.9.{n}.1"},  # made up: buys nothing
                environ_base={"REMOTE_ADDR": "203.0.113.50"},
            )
            .status_code
        )

    assert burst(apps, send) == Counter({401: BUDGET, 429: BURST - BUDGET})


def test_a_burst_from_one_user_across_many_addresses_gets_exactly_one_budget(make_app):
    apps = limited_apps(make_app)
    ayu = token_for(apps[0])

    def send(app: Flask, n: int) -> int:
        address = f"198.51.100.{n + 1}"  # a new address for every request
        return (
            app.test_client()
            .get("/api/v1/auth/me", headers=ayu, environ_base={"REMOTE_ADDR": address})
            .status_code
        )

    assert burst(apps, send) == Counter({200: BUDGET, 429: BURST - BUDGET})


def test_a_burst_of_sign_ins_is_held_to_the_login_limit(make_app):
    apps = limited_apps(make_app, RATELIMIT_LOGIN=f"{BUDGET} per minute")

    def send(app: Flask, n: int) -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/auth/login",
                json={"login": f"nobody{n}", "password": "wrong-password-123"},
                environ_base={"REMOTE_ADDR": "203.0.113.51"},
            )
            .status_code
        )

    statuses = burst(apps, send)
    assert statuses[429] == BURST - BUDGET, statuses
    assert sum(statuses.values()) == BURST
