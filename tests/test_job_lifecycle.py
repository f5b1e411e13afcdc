"""The worker lifecycle on real brokers: retries, permanent failures, dead workers, lost
messages, and RabbitMQ as an alternative broker."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis
from kombu import Connection

from api.jobs.kinds import QUEUES
from api.maintenance import BY_NAME
from tests.conftest import (
    RABBITMQ_URL,
    REDIS_DB_BROKER,
    REDIS_HOST_URL,
    REDIS_PORT,
    WorkerProcess,
    free_port,
    running_worker,
    sql,
    wait_for_job,
)
from tests.support.fake_smtp import FakeSmtpServer
from tests.support.tcp_proxy import TcpProxy
from tests.test_inquiries import VALID, read_outbox


def smtp_env(port: int) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_USE_TLS": "false",
    }


def test_transient_smtp_errors_are_retried_with_backoff_then_succeed(make_app):
    with FakeSmtpServer(free_port()) as smtp:
        smtp.handler.replies = ["451 4.3.0 Try again later", "421 4.7.0 Busy"]
        app = make_app(**smtp_env(smtp.port))
        client = app.test_client()
        with running_worker(app):
            response = client.post("/api/v1/inquiries", json=VALID)
            job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 3
    assert len(smtp.handler.messages) == 2


def test_permanent_smtp_rejection_fails_the_job_with_a_clear_code(make_app):
    with FakeSmtpServer(free_port()) as smtp:
        smtp.handler.replies = ["554 5.7.1 Message rejected"]
        app = make_app(**smtp_env(smtp.port))
        client = app.test_client()
        with running_worker(app):
            response = client.post("/api/v1/inquiries", json=VALID)
            job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["code"] == "email_rejected"
    assert "554" in job["error"]["message"]
    assert job["result"] is None


def test_retries_stop_after_the_maximum_attempts(make_app):
    with FakeSmtpServer(free_port()) as smtp:
        smtp.handler.replies = ["451 Try later"] * 10
        app = make_app(**smtp_env(smtp.port), JOB_MAX_ATTEMPTS="2")
        client = app.test_client()
        with running_worker(app):
            response = client.post("/api/v1/inquiries", json=VALID)
            job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert job["error"]["code"] == "email_provider_unavailable"
    assert "gave up after 2 attempts" in job["error"]["message"]


def test_unreachable_smtp_server_is_retried(make_app):
    port = free_port()
    app = make_app(**smtp_env(port), JOB_MAX_ATTEMPTS="2")
    client = app.test_client()
    with running_worker(app):
        response = client.post("/api/v1/inquiries", json=VALID)
        job = wait_for_job(client, response.headers["Location"])

    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert job["error"]["code"] == "email_provider_unavailable"


def test_a_worker_killed_mid_job_leaves_it_for_the_next_worker(make_app, base_env):
    with FakeSmtpServer(free_port()) as smtp:
        env = {**base_env, **smtp_env(smtp.port)}
        app = make_app(**env)
        client = app.test_client()
        smtp.handler.stall.set()
        first = WorkerProcess(env)
        try:
            response = client.post("/api/v1/inquiries", json=VALID)
            assert smtp.handler.entered_data.wait(20), "the first worker never reached SMTP"
            running = client.get(response.headers["Location"]).get_json()
            assert running["status"] == "running"
            first.kill()
        finally:
            first.stop()
        smtp.handler.stall.clear()
        smtp.handler.release.set()

        # The dead worker's lease runs out (as it would after JOB_LEASE_SECONDS).
        sql(app, "UPDATE jobs SET lease_until = now() - interval '1 second'")
        with app.app_context():
            report = BY_NAME["sweep-jobs"].run()
        assert report.expired_leases == 1
        second = WorkerProcess(env)
        try:
            job = wait_for_job(client, response.headers["Location"])
        finally:
            second.stop()

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert sorted(message["To"] for message in smtp.handler.messages) == [
        "ayu@example.com",
        "hello@baliblissed.com",
    ]


def test_sigterm_to_a_worker_mid_job_lets_the_job_finish_on_that_worker(make_app, base_env):
    """A deploy stops a worker with SIGTERM (docker stop, systemd, honcho): a warm shutdown,
    which takes no new message and lets the job in hand finish (within its time limit)."""
    with FakeSmtpServer(free_port()) as smtp:
        env = {**base_env, **smtp_env(smtp.port)}
        app = make_app(**env)
        client = app.test_client()
        smtp.handler.stall.set()
        smtp.handler.accept_after_stall = True  # a slow send that succeeds once released
        worker = WorkerProcess(env)
        try:
            response = client.post("/api/v1/inquiries", json=VALID)
            assert smtp.handler.entered_data.wait(20), "the worker never reached SMTP"
            assert client.get(response.headers["Location"]).get_json()["status"] == "running"

            os.kill(worker.process.pid, signal.SIGTERM)  # the main process only, as docker stop
            assert worker.process.stdout is not None
            seen = []
            for line in worker.process.stdout:
                seen.append(line)
                if "Warm shutdown" in line:
                    break
            assert any("Warm shutdown" in line for line in seen), "".join(seen)
            # Shutting down, the worker still holds the job: it is not abandoned.
            assert client.get(response.headers["Location"]).get_json()["status"] == "running"

            smtp.handler.release.set()
            assert worker.process.wait(60) == 0, "the worker did not stop after its job"
            job = client.get(response.headers["Location"]).get_json()
        finally:
            worker.stop()

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1  # finished by the worker that was stopped, not re-run
    assert sorted(message["To"] for message in smtp.handler.messages) == [
        "ayu@example.com",
        "hello@baliblissed.com",
    ]


def test_an_inquiry_accepted_while_the_broker_is_down_is_delivered_by_the_sweeper(
    make_app, tmp_path
):
    proxy = TcpProxy(REDIS_PORT).start()
    app = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{proxy.port}/{REDIS_DB_BROKER}")
    client = app.test_client()
    proxy.stop()

    response = client.post("/api/v1/inquiries", json=VALID)

    assert response.status_code == 202
    job_id = response.get_json()["id"]
    rows = sql(app, "SELECT status, enqueued_at FROM jobs WHERE id = :id", id=job_id)
    assert rows == [("queued", None)]
    assert sql(app, "SELECT count(*) FROM inquiries")[0][0] == 1

    proxy.start()  # the broker is back
    try:
        with running_worker(app):
            # Nothing but the sweeper can start it: no message for it is in the broker.
            assert redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}").llen("email") == 0
            assert client.get(response.headers["Location"]).get_json()["status"] == "queued"
            with app.app_context():
                # Beat sweeps every minute; on a loaded machine the first publish may meet a
                # connection the outage broke, so sweep as beat would until one goes out.
                for _ in range(5):
                    report = BY_NAME["sweep-jobs"].run()
                    if not report.publish_failures:
                        break
                    time.sleep(1)
            job = wait_for_job(client, response.headers["Location"])
    finally:
        proxy.stop()

    assert report.requeued == 1
    assert report.publish_failures == 0
    assert job["status"] == "succeeded"
    assert len(read_outbox(tmp_path / "outbox")) == 2


def test_sweeper_leaves_recently_enqueued_and_running_jobs_alone(app, client):
    client.post("/api/v1/inquiries", json=VALID)

    with app.app_context():
        report = BY_NAME["sweep-jobs"].run()

    assert report.requeued == 0
    assert report.expired_leases == 0


def test_a_waiting_backlog_is_not_published_again_but_a_lost_message_is(app, client):
    """Jobs queued past JOB_REQUEUE_AFTER_SECONDS with their messages still in the broker (no
    worker yet) get no second message; one whose message a dead worker took gets exactly one."""
    ids = [client.post("/api/v1/inquiries", json=VALID).get_json()["id"] for _ in range(4)]
    sql(app, "UPDATE jobs SET enqueued_at = now() - interval '1 hour'")  # all long overdue
    broker = redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}")
    assert broker.llen("email") == 4

    with app.app_context():
        backlog = BY_NAME["sweep-jobs"].run()
    assert backlog.requeued == 0
    assert broker.llen("email") == 4

    broker.rpop("email")  # the oldest message, as a prefetching worker that then died took it
    with app.app_context():
        lost = BY_NAME["sweep-jobs"].run()
        again = BY_NAME["sweep-jobs"].run()

    assert lost.requeued == 1
    assert again.requeued == 0  # the broker holds one message per queued job again
    assert broker.llen("email") == 4
    messages = [json.loads(raw)["headers"]["id"] for raw in broker.lrange("email", 0, -1)]
    assert sorted(messages) == sorted(ids)


@pytest.fixture
def rabbitmq() -> str:
    """The RabbitMQ server, with our queues removed so each run declares them afresh."""
    with Connection(RABBITMQ_URL, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=2)
        channel = connection.channel()
        for queue in QUEUES:
            channel.queue_delete(queue)
    return RABBITMQ_URL


def test_inquiry_end_to_end_with_rabbitmq_as_the_broker(make_app, rabbitmq, tmp_path):
    app = make_app(CELERY_BROKER_URL=rabbitmq)
    client = app.test_client()

    with running_worker(app):
        response = client.post("/api/v1/inquiries", json=VALID)
        job = wait_for_job(client, response.headers["Location"])
        health = client.get("/health").get_json()

    assert job["status"] == "succeeded"
    assert len(read_outbox(tmp_path / "outbox")) == 2
    assert health["checks"]["broker"]["status"] == "ok"
    assert health["checks"]["workers"]["status"] == "ok"
