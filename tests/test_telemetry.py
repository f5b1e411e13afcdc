"""What an on-call engineer reads: each metric moves when its event happens, and a request's id
follows its job into the worker's log lines and into the webhook it sends."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import WorkerProcess, free_port, running_worker, token_for, wait_for_job
from tests.support.fake_gemini import FakeGemini
from tests.support.fake_smtp import FakeSmtpServer
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as TRIP


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    text = client.get("/metrics").get_data(as_text=True)
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_job_metrics_move_with_their_jobs(app, client, worker):
    before = samples(client)

    job = wait_for_job(client, client.post("/api/v1/inquiries", json=VALID).headers["Location"])

    after = samples(client)
    assert job["status"] == "succeeded"
    for name in ("baliblissed_job_queue_wait_seconds_count", "baliblissed_job_run_seconds_count"):
        assert value(after, name, kind="email") == value(before, name, kind="email") + 1
    outcome = {"kind": "email", "outcome": "succeeded", "code": ""}
    assert value(after, "baliblissed_job_outcomes_total", **outcome) == (
        value(before, "baliblissed_job_outcomes_total", **outcome) + 1
    )
    assert value(after, "baliblissed_emails_sent_total", provider="outbox") == (
        value(before, "baliblissed_emails_sent_total", provider="outbox") + 2
    )


def test_failures_and_retries_are_counted_by_error_code(make_app):
    with FakeSmtpServer(free_port()) as smtp:
        smtp.handler.replies = ["451 4.3.0 Try again later", "554 5.7.1 Message rejected"]
        app = make_app(
            EMAIL_PROVIDER="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp.port),
            SMTP_USE_TLS="false",
        )
        client = app.test_client()
        before = samples(client)
        with running_worker(app):
            job = wait_for_job(
                client, client.post("/api/v1/inquiries", json=VALID).headers["Location"]
            )
        after = samples(client)

    assert job["error"]["code"] == "email_rejected"
    name = "baliblissed_job_outcomes_total"
    retried = {"kind": "email", "outcome": "retried", "code": "email_provider_unavailable"}
    failed = {"kind": "email", "outcome": "failed", "code": "email_rejected"}
    assert value(after, name, **retried) == value(before, name, **retried) + 1
    assert value(after, name, **failed) == value(before, name, **failed) + 1


def test_gemini_calls_fallbacks_and_the_breaker_are_visible(make_app):
    with FakeGemini() as gemini:
        gemini.default = 500
        app = make_app(
            GEMINI_API_KEY="test-key",
            GEMINI_BASE_URL=gemini.url,
            GEMINI_MAX_ATTEMPTS="1",
            GEMINI_BREAKER_THRESHOLD="1",
        )
        client = app.test_client()
        before = samples(client)
        with running_worker(app):
            job = wait_for_job(
                client, client.post("/api/v1/itineraries", json=TRIP).headers["Location"]
            )
        after = samples(client)

    assert job["result"]["fallback_reason"] == "gemini_unavailable"
    assert value(after, "baliblissed_gemini_calls_total", result="error") == (
        value(before, "baliblissed_gemini_calls_total", result="error") + 1
    )
    reason = {"reason": "gemini_unavailable"}
    assert value(after, "baliblissed_gemini_fallbacks_total", **reason) == (
        value(before, "baliblissed_gemini_fallbacks_total", **reason) + 1
    )
    assert value(before, "baliblissed_gemini_breaker_open") == 0
    assert value(after, "baliblissed_gemini_breaker_open") == 1  # one failure opens it here


def test_rate_limit_refusals_and_cache_reads_are_counted_by_route_and_namespace(make_app):
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_INQUIRY="1 per hour")
    client = app.test_client()
    before = samples(client)

    client.post("/api/v1/inquiries", json=VALID)
    assert client.post("/api/v1/inquiries", json=VALID).status_code == 429
    client.get("/api/v1/destinations")  # a miss, then
    client.get("/api/v1/destinations")  # a hit

    after = samples(client)
    route = {"route": "/api/v1/inquiries"}
    assert value(after, "baliblissed_rate_limited_total", **route) == (
        value(before, "baliblissed_rate_limited_total", **route) + 1
    )
    for result in ("miss", "hit"):
        labels = {"namespace": "catalogue", "result": result}
        assert value(after, "baliblissed_cache_requests_total", **labels) >= (
            value(before, "baliblissed_cache_requests_total", **labels) + 1
        )


def test_webhook_outcomes_and_latency_are_counted(make_app):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_RETRY_BASE_DELAY="0")
    client = app.test_client()
    headers = token_for(app)
    before = samples(client)
    with WebhookReceiver() as receiver, running_worker(app):
        receiver.statuses = [500]
        client.post(
            "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
        )
        receiver.wait_for(2)
        after = samples(client)

    for outcome in ("retry", "delivered"):
        assert value(after, "baliblissed_webhook_attempts_total", outcome=outcome) == (
            value(before, "baliblissed_webhook_attempts_total", outcome=outcome) + 1
        )
    assert value(after, "baliblissed_webhook_attempt_seconds_count") == (
        value(before, "baliblissed_webhook_attempt_seconds_count") + 2
    )


def test_a_requests_id_is_in_its_jobs_worker_log_and_its_webhook(make_app, base_env):
    env = {
        **base_env,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    app = make_app(**env)
    client = app.test_client()
    headers = {**token_for(app), "X-Request-ID": "trip-2026-ubud"}
    with WebhookReceiver() as receiver:
        worker = WorkerProcess(env)
        try:
            response = client.post(
                "/api/v1/inquiries", json={**VALID, "callback_url": receiver.url}, headers=headers
            )
            job = wait_for_job(client, response.headers["Location"], headers=headers)
            delivered = receiver.wait_for(1)
        finally:
            worker.stop()
        output = worker.process.stdout.read() if worker.process.stdout else ""

    assert response.headers["X-Request-ID"] == "trip-2026-ubud"
    assert delivered[0].headers["x-request-id"] == "trip-2026-ubud"
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    transitions = [line for line in lines if line.get("job_id") == job["id"]]
    assert {line["event"] for line in transitions} >= {"job.claimed", "job.succeeded"}
    assert {line["request_id"] for line in transitions} == {"trip-2026-ubud"}
    claimed = next(line for line in transitions if line["event"] == "job.claimed")
    assert claimed["job_kind"] == "email"
    assert claimed["attempt"] == 1
    assert claimed["queue_wait_ms"] >= 0
