"""PostgreSQL hung (it accepts and reads, never answers) rather than refusing: requests answer
503 problem+json within their timeouts instead of hanging, the API's pool and the worker
recover once it answers again (neither restarted), and every accepted job finishes once.

A hung server is what a stopped process or a stuck network path looks like: the kernel still
acknowledges every byte, so only the client's own deadline (`DATABASE_CALL_TIMEOUT_SECONDS`,
api.database.CallDeadline) ends a call that waits on it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import free_port, wait_for_job
from tests.faults.conftest import DrainedWorker, postgres_through_proxy, record
from tests.faults.test_workers import FAST, ONE_MINUTE, sent_twice, submit_inquiries
from tests.support.fake_smtp import FakeSmtpServer
from tests.test_gunicorn import gunicorn, wait_until_live
from tests.test_inquiries import VALID
from tests.test_job_lifecycle import smtp_env

CALL_TIMEOUT = 3  # DATABASE_CALL_TIMEOUT_SECONDS here (default 30)
# Well above every bound a request has (call 3 s, connect 5 s, pool 5 s): only a hang exceeds it.
NO_HANG_SECONDS = 30.0
JOBS, OUTAGE_SECONDS = 6, 8


def timed(call: Any) -> tuple[int, str, float]:
    started = time.monotonic()
    response = call()
    return response.status_code, response.mimetype, time.monotonic() - started


def test_a_hung_database_answers_503_in_time_and_every_accepted_job_finishes(
    make_app, base_env, postgres_url
):
    proxy, through_proxy = postgres_through_proxy(postgres_url)
    with FakeSmtpServer(free_port()) as smtp, ThreadPoolExecutor(4) as pool:
        env = {
            **base_env,
            **smtp_env(smtp.port),
            **FAST,
            "DATABASE_URL": through_proxy,
            "DATABASE_CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT),
        }
        client = make_app(**env).test_client()
        smtp.handler.stall.set()
        worker = DrainedWorker(env)
        try:
            locations = submit_inquiries(client, JOBS)
            assert smtp.handler.entered_data.wait(30), "the worker never reached SMTP"
            proxy.hang()  # PostgreSQL stops answering: connections stay open, bytes are held
            smtp.handler.stall.clear()
            smtp.handler.release.set()  # the job in hand now needs the database to go on
            # Each request on its own thread, so a hang fails the test instead of stalling it.
            during = {
                "job": pool.submit(timed, lambda: client.get(locations[0])),
                "submission": pool.submit(
                    timed, lambda: client.post("/api/v1/inquiries", json=VALID)
                ),
                "public read": pool.submit(timed, lambda: client.get("/api/v1/destinations")),
            }
            answers = {
                name: future.result(timeout=NO_HANG_SECONDS) for name, future in during.items()
            }
            time.sleep(OUTAGE_SECONDS)  # the outage's length, not a wait for an outcome
            proxy.restore()

            back = time.monotonic()
            finished = [wait_for_job(client, url, timeout=ONE_MINUTE + 30) for url in locations]
            recovery = time.monotonic() - back
            after = client.post("/api/v1/inquiries", json={**VALID, "email": "later@example.com"})
            assert after.status_code == 202, after.get_json()
            finished.append(wait_for_job(client, after.headers["Location"], timeout=ONE_MINUTE))
        finally:
            worker.stop()
            proxy.stop()

    lost = sum(job["status"] != "succeeded" for job in finished)
    duplicated = sent_twice(smtp)
    slowest = max(elapsed for *_, elapsed in answers.values())
    record(
        f"PostgreSQL hung {OUTAGE_SECONDS} s under load",
        ran=f"{JOBS + 1} email jobs, {len(answers)} requests during the hang",
        lost=lost,
        duplicated=duplicated,
        recovery_seconds=recovery,
        notes=f"call deadline {CALL_TIMEOUT} s: slowest answer during the hang {slowest:.1f} s; "
        "API and worker not restarted",
    )
    for name, (status, mimetype, elapsed) in answers.items():
        assert elapsed < NO_HANG_SECONDS, (name, elapsed)
        if name == "public read" and status == 200:
            continue  # served from the cache, without the database
        assert (status, mimetype) == (503, "application/problem+json"), (name, answers)
    assert lost == 0, [job for job in finished if job["status"] != "succeeded"]
    assert duplicated == 0
    assert len(smtp.handler.messages) == 2 * (JOBS + 1)
    assert recovery < ONE_MINUTE


def post_inquiry(port: int) -> tuple[int, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/inquiries",
        data=json.dumps(VALID).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=NO_HANG_SECONDS) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started


@pytest.mark.slow  # gunicorn's start-up; the deadline itself is in the CI scenario above
@pytest.mark.timeout(300)
def test_a_hung_database_under_gunicorns_gevent_workers_is_503_and_the_worker_stays_live(
    base_env, postgres_url
):
    """The watchdog is a greenlet there: it must run while a request waits on the socket."""
    proxy, through_proxy = postgres_through_proxy(postgres_url)
    port = free_port()
    env = {
        **base_env,
        "DATABASE_URL": through_proxy,
        "DATABASE_CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT),
        "WEB_CONCURRENCY": "1",
    }
    try:
        with gunicorn(env, port) as server:
            wait_until_live(server, port)
            before = post_inquiry(port)
            proxy.hang()
            during = post_inquiry(port)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=5) as live:
                live_status = live.status  # the worker's event loop was never blocked
            proxy.restore()
            back = time.monotonic()
            after = post_inquiry(port)
            recovery = time.monotonic() - back
    finally:
        proxy.stop()
    record(
        "PostgreSQL hung under gunicorn (gevent)",
        ran="3 submissions, 1 during the hang",
        lost=0,
        duplicated=0,
        recovery_seconds=recovery,
        notes=f"call deadline {CALL_TIMEOUT} s: the one during the hang answered "
        f"{during[0]} in {during[1]:.1f} s; /health/live {live_status} meanwhile",
    )
    assert before[0] == 202
    assert during[0] == 503
    assert during[1] < NO_HANG_SECONDS
    assert live_status == 200
    assert after[0] == 202
