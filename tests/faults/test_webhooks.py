"""Webhook receivers misbehaving under the fault harness (a worker and beat as subprocesses):
one down for a while then back, one that hangs, one that drips. Every attempt is counted and
recorded, cut at the deadline, retried on the backoff schedule and stopped at the maximum; the
delivery to the receiver that came back succeeds. (`tests/test_webhooks.py` covers each case
one delivery at a time, in-process.)
"""

from __future__ import annotations

import contextlib
import itertools
import time
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from tests.conftest import sql, token_for, wait_for_job, wait_until
from tests.faults.conftest import BeatProcess, DrainedWorker, record
from tests.faults.test_workers import ONE_MINUTE
from tests.support.tcp_proxy import TcpProxy
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_inquiries import VALID

TIMEOUT_SECONDS, MAX_ATTEMPTS, BASE_DELAY = 2, 3, 2
SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "WEBHOOK_RETRY_BASE_DELAY": str(BASE_DELAY),
}
DEADLINE_MARGIN_MS = 500  # recording the attempt on a busy machine, not the peer's pace
CLAIM_EARLY_SECONDS = 1  # a claim may take a delivery up to 1 s before it is due (claim())


def attempts_of(app: Flask, url: str) -> list[dict[str, Any]]:
    rows = sql(
        app,
        "SELECT a.number, a.status_code, a.error, a.duration_ms, a.attempted_at, d.status "
        "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
        "WHERE d.url = :url ORDER BY a.number",
        url=url,
    )
    keys = ("number", "status_code", "error", "duration_ms", "attempted_at", "delivery_status")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def recorded_outcome(attempt: dict[str, Any]) -> bool:
    """The attempt's outcome is written (its claim writes a placeholder error first)."""
    return not (attempt["error"] or "").startswith("no outcome yet")


def gaps(attempts: list[dict[str, Any]]) -> list[float]:
    times: list[datetime] = [attempt["attempted_at"] for attempt in attempts]
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]


@pytest.mark.slow  # about a minute on a loaded machine; CI: tests/test_webhooks.py
@pytest.mark.timeout(300)
def test_webhook_receivers_down_hung_and_dripping_are_retried_on_schedule_and_bounded(
    make_app, base_env
):
    env = {**base_env, **SETTINGS}
    app = make_app(**env)
    client = app.test_client()
    headers = token_for(app)
    with (
        WebhookReceiver() as coming_back,
        WebhookReceiver() as hung,
        WebhookReceiver() as dripping,
        contextlib.ExitStack() as processes,
    ):
        hung.mode, hung.drip_seconds = "hang", 60
        dripping.mode, dripping.drip_seconds = "drip-body", 60
        down = TcpProxy(coming_back.port).start()  # the receiver's address, refusing for now
        processes.callback(down.stop)
        down.stop()
        urls = {
            "down, then back": f"http://127.0.0.1:{down.port}/hooks",
            "hung": f"{hung.url}/hooks",
            "dripping": f"{dripping.url}/hooks",
        }
        processes.callback(BeatProcess(env).stop)
        processes.callback(DrainedWorker(env).stop)
        locations = []
        for url in urls.values():
            response = client.post(
                "/api/v1/inquiries", json={**VALID, "callback_url": url}, headers=headers
            )
            assert response.status_code == 202, response.get_json()
            locations.append(response.headers["Location"])
        jobs = [wait_for_job(client, location, headers=headers) for location in locations]

        def refused_twice() -> bool:
            seen = attempts_of(app, urls["down, then back"])
            return len(seen) >= 2 and all(recorded_outcome(a) for a in seen[:2])

        wait_until(refused_twice, ONE_MINUTE, "the down receiver to be tried twice", 0.05)
        down.start()  # back on the same address before the third attempt is due
        back = time.monotonic()

        def settled() -> bool:
            statuses = sql(app, "SELECT status FROM webhook_deliveries")
            return len(statuses) == 3 and all(status != "pending" for (status,) in statuses)

        wait_until(settled, 2 * ONE_MINUTE, "every delivery to settle", 0.05)
        recovery = time.monotonic() - back
        attempts = {name: attempts_of(app, url) for name, url in urls.items()}
        received = {
            "down, then back": len(coming_back.received),
            "hung": len(hung.received),
            "dripping": len(dripping.received),
        }

    assert all(job["status"] == "succeeded" for job in jobs)
    recorded = sum(len(rows) for rows in attempts.values())
    back_attempts = attempts["down, then back"]
    lost = int(not back_attempts or back_attempts[-1]["delivery_status"] != "succeeded")
    beyond = sum(max(0, len(rows) - MAX_ATTEMPTS) for rows in attempts.values())
    beyond += sum(max(0, count - len(attempts[name])) for name, count in received.items())
    record(
        "webhook receivers down then back, hung, dripping",
        ran=f"3 deliveries, {recorded} attempts (timeout {TIMEOUT_SECONDS} s, "
        f"max {MAX_ATTEMPTS}, retry after {BASE_DELAY} s doubling)",
        lost=lost,
        duplicated=beyond,
        recovery_seconds=recovery,
        notes="attempts cut at the deadline: slowest "
        f"{max(a['duration_ms'] for rows in attempts.values() for a in rows)} ms; "
        "hung and dripping failed at the maximum",
    )

    # The receiver that came back: refused twice (nothing reached it), then delivered once.
    assert [(a["number"], a["status_code"]) for a in back_attempts] == [
        (1, None),
        (2, None),
        (3, 204),
    ], back_attempts
    assert all(a["error"] for a in back_attempts[:2])
    assert back_attempts[-1]["delivery_status"] == "succeeded"
    assert received["down, then back"] == 1
    # The tarpits: every attempt sent, recorded, cut at the deadline; failed at the maximum.
    for name in ("hung", "dripping"):
        rows = attempts[name]
        assert [a["number"] for a in rows] == list(range(1, MAX_ATTEMPTS + 1)), (name, rows)
        assert received[name] == MAX_ATTEMPTS, name
        for attempt in rows:
            assert attempt["status_code"] is None
            assert attempt["error"].startswith(
                f"timed out: no complete answer within {TIMEOUT_SECONDS} s"
            ), (name, attempt)
            # The bound the system promises, whatever the peer does: not a benchmark.
            assert attempt["duration_ms"] <= TIMEOUT_SECONDS * 1000 + DEADLINE_MARGIN_MS
        assert rows[-1]["delivery_status"] == "failed"
    # On schedule: never earlier than the backoff (BASE_DELAY, doubling) allows.
    for name, rows in attempts.items():
        for number, gap in enumerate(gaps(rows), start=1):
            assert gap >= BASE_DELAY * 2 ** (number - 1) - CLAIM_EARLY_SECONDS, (name, gaps(rows))
    assert lost == 0
    assert beyond == 0
