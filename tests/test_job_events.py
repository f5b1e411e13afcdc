"""Waiting for jobs: long-polls and event streams woken by the job's change notification,
bounded, resumable, and (under the Procfile's gevent web command) costing no thread."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from api.jobs import events
from tests.conftest import PROJECT_ROOT, free_port, running_worker, token_for, wait_until
from tests.test_inquiries import VALID


def waiters(app) -> int:
    with app.app_context():
        found = events.dispatcher()
        return found.waiter_count if found else 0


def read_events(response_or_text) -> list[dict[str, Any]]:
    """Parse a finished text/event-stream body into its events."""
    text = (
        response_or_text
        if isinstance(response_or_text, str)
        else response_or_text.get_data(as_text=True)
    )
    parsed = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "job":
            parsed.append({"id": int(fields["id"]), "job": json.loads(fields["data"])})
    return parsed


def test_a_long_poll_wakes_as_soon_as_its_job_changes(make_app):
    """With re-checks an hour apart, only the job's change notification can end the wait
    before its 30 s deadline."""
    app = make_app(JOB_EVENTS_RECHECK_SECONDS="3600")
    client = app.test_client()
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]
    answers: list[dict[str, Any]] = []
    poll = threading.Thread(
        target=lambda: answers.append(app.test_client().get(f"{location}?wait=30").get_json())
    )
    poll.start()
    wait_until(lambda: waiters(app) == 1, 10, "the long-poll to wait")

    with running_worker(app):
        poll.join(15)  # half its deadline: it must have been woken

    assert not poll.is_alive()
    assert answers[0]["status"] == "succeeded"
    assert waiters(app) == 0


def test_the_event_stream_sends_each_change_then_ends_with_the_terminal_job(make_app):
    app = make_app(JOB_EVENTS_RECHECK_SECONDS="3600")
    client = app.test_client()
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]
    stream = client.get(f"{location}/events", buffered=False)
    assert stream.status_code == 200
    assert stream.mimetype == "text/event-stream"
    assert stream.headers["Cache-Control"] == "no-cache"
    chunks = (chunk.decode() for chunk in stream.response)
    first = "".join(next(chunks) for _ in range(2))  # retry:, then the job as it stands
    assert first.startswith("retry: 2000\n\n")
    assert '"status": "queued"' in first

    with running_worker(app):
        rest = "".join(chunks)  # ends once the terminal job has been sent

    got = read_events(first + rest)
    statuses = [event["job"]["status"] for event in got]
    assert statuses[0] == "queued"
    assert statuses[-1] == "succeeded"
    assert set(statuses) <= {"queued", "running", "succeeded"}
    ids = [event["id"] for event in got]
    assert ids == sorted(set(ids))  # one event per version, in order
    assert got[-1]["job"]["result"]["sent"] == ["company", "confirmation"]


def test_the_event_stream_resumes_after_last_event_id(app, client, worker):
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]
    done = client.get(f"{location}?wait=20").get_json()
    assert done["status"] == "succeeded"
    everything = read_events(client.get(f"{location}/events"))
    final = everything[-1]["id"]

    resumed = read_events(client.get(f"{location}/events", headers={"Last-Event-ID": "0"}))
    caught_up = client.get(f"{location}/events", headers={"Last-Event-ID": str(final)})

    assert [event["id"] for event in resumed] == [final]  # only what is newer than 0
    assert resumed[0]["job"]["status"] == "succeeded"
    assert read_events(caught_up) == []  # nothing newer: the stream just ends
    assert caught_up.get_data(as_text=True) == "retry: 2000\n\n"


def test_event_streams_refuse_bad_resumes_and_hide_other_users_jobs(app, client):
    location = client.post("/api/v1/inquiries", json=VALID, headers=token_for(app)).headers[
        "Location"
    ]

    bad = client.get(f"{location}/events", headers={"Last-Event-ID": "yesterday"})
    stranger = client.get(f"{location}/events", headers=token_for(app))
    anonymous = client.get(f"{location}/events")

    assert bad.status_code in {404, 422}  # someone else's job is 404 before its header is read
    assert stranger.status_code == 404
    assert anonymous.status_code == 404
    assert stranger.mimetype == "application/problem+json"
    own = client.get(
        "/api/v1/jobs/00000000-0000-4000-8000-000000000000/events",
        headers={"Last-Event-ID": "yesterday"},
    )
    assert own.status_code == 422
    assert "Last-Event-ID" in own.get_json()["errors"]


def test_waiting_longer_than_the_maximum_is_422(client):
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]

    response = client.get(f"{location}?wait=31")

    assert response.status_code == 422
    assert response.get_json()["errors"]["wait"]


def test_an_event_stream_beyond_the_bound_gets_the_job_at_once_with_retry_after(make_app):
    app = make_app(LONG_POLL_MAX_WAITERS="1")
    client = app.test_client()
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]
    held = threading.Thread(target=lambda: app.test_client().get(f"{location}?wait=5"))
    held.start()
    wait_until(lambda: waiters(app) == 1, 10, "the first waiter")

    refused = client.get(f"{location}/events")

    assert refused.headers["Retry-After"] == "1"
    assert [event["job"]["status"] for event in read_events(refused)] == ["queued"]
    assert held.is_alive()  # answered while the first still waits
    held.join(10)


# --- under the Procfile's web command (gunicorn, gevent workers) ----------------------------


@contextmanager
def gunicorn(base_env: dict[str, str], **settings: str) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **base_env, "HOST": "127.0.0.1", "PORT": str(port), **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def up() -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health/live")
            return connection.getresponse().status == 200
        except OSError:
            return False

    try:
        wait_until(up, 60, "gunicorn")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(40)


def get(port: int, path: str, timeout: float = 40) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), json.loads(body) if body else None


@pytest.mark.timeout(120)
def test_a_hundred_waiters_hold_no_thread_of_the_procfile_web_server(make_app, base_env):
    """One gevent worker holds 100 long-polls and still answers other requests; when the job
    ends every waiter gets it."""
    app = make_app()
    location = app.test_client().post("/api/v1/inquiries", json=VALID).headers["Location"]
    with gunicorn(base_env, WEB_CONCURRENCY="1", LONG_POLL_MAX_WAITERS_PER_CALLER="200") as port:
        answers: list[tuple[int, Any]] = []
        polls = [
            threading.Thread(target=lambda: answers.append(get(port, f"{location}?wait=30")[::2]))
            for _ in range(100)
        ]
        for poll in polls:
            poll.start()
        time.sleep(1)  # let them all connect (they wait 30 s each)
        status, _, health = get(port, "/health/live", timeout=5)
        assert status == 200, health
        assert all(poll.is_alive() for poll in polls)  # served while all 100 still wait

        with running_worker(app):
            for poll in polls:
                poll.join(20)

    assert len(answers) == 100
    assert {status for status, _ in answers} == {200}
    assert {job["status"] for _, job in answers} == {"succeeded"}


def waiting_clients(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found = re.search(r"^baliblissed_waiting_clients (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


@pytest.mark.timeout(120)
def test_a_client_that_drops_its_long_poll_frees_its_slot(make_app, base_env):
    app = make_app()
    location = app.test_client().post("/api/v1/inquiries", json=VALID).headers["Location"]
    with gunicorn(base_env, WEB_CONCURRENCY="1") as port:
        dropped = socket.create_connection(("127.0.0.1", port))
        dropped.sendall(f"GET {location}?wait=30 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_until(lambda: waiting_clients(port) == 1, 10, "the long-poll to wait")

        dropped.close()

        # Freed long before the poll's 30 s deadline: the server noticed the client left.
        wait_until(lambda: waiting_clients(port) == 0, 10, "the slot to be freed")


def waiter_ends(port: int) -> dict[str, int]:
    """How the web server's waiters found their job ended, by cause (from /metrics)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found = re.findall(
        r'^baliblissed_waiter_terminal_reads_total\{cause="(\w+)"\} (\S+)$', text, re.MULTILINE
    )
    return {cause: int(float(value)) for cause, value in found if float(value)}


@pytest.mark.timeout(150)
def test_every_waiter_of_many_jobs_is_woken_by_its_own_job(make_app, base_env):
    """Sixty long-polls on sixty jobs across the Procfile's two gevent workers, the jobs
    finishing while they wait. Re-checks are 60 s apart, beyond the polls' 30 s deadline, so a
    missed wake-up shows as a waiter that found its job ended only at its deadline."""
    app = make_app()
    client = app.test_client()
    locations = [
        client.post("/api/v1/inquiries", json=VALID).headers["Location"] for _ in range(60)
    ]
    settings = {
        "WEB_CONCURRENCY": "2",
        "JOB_EVENTS_RECHECK_SECONDS": "60",
        "LONG_POLL_MAX_WAITERS_PER_CALLER": "200",
    }
    with gunicorn(base_env, **settings) as port:
        answers: dict[str, tuple[int, Any]] = {}
        polls = [
            threading.Thread(
                target=lambda at=at: answers.__setitem__(at, get(port, f"{at}?wait=30")[::2])
            )
            for at in locations
        ]
        for poll in polls:
            poll.start()
        wait_until(lambda: waiting_clients(port) == len(locations), 30, "every poll to wait")

        with running_worker(app):
            for poll in polls:
                poll.join(45)
        ends = waiter_ends(port)

    assert len(answers) == len(locations)
    assert {status for status, _ in answers.values()} == {200}
    assert {job["status"] for _, job in answers.values()} == {"succeeded"}
    # Woken by the notification (a poll may also have found its job ended at its first read);
    # none only at a re-check or at its deadline.
    assert set(ends) == {"notification"}, ends


def test_a_waiter_is_woken_by_a_change_published_as_soon_as_its_process_subscribed(app):
    """Each time a process first subscribes (ten fresh dispatchers), a change published
    the moment the subscription is reported up reaches the waiter that was registered before
    it: the subscription counts as up only once Redis confirmed it."""
    url = app.config["REDIS_URL"]
    publisher = redis.Redis.from_url(url)
    for _ in range(10):
        dispatcher = events.Dispatcher(url)
        job_id = uuid.uuid4()
        try:
            with dispatcher.waiting(job_id) as waiter:
                assert dispatcher.connected.wait(10)
                waiter.wait(0)  # forget the wake-up every waiter gets on (re)subscribing
                publisher.publish(events.CHANNEL, f"{job_id}:1")
                assert waiter.wait(10), "the change published after subscribing was lost"
        finally:
            dispatcher.shutdown()


def test_a_wake_up_landing_as_a_wait_times_out_is_not_lost():
    """Under gevent, a notification can set the waiter's event in the loop turn its timeout
    fires, and `Event.wait` then answers False: the waiter must still report the wake-up."""
    waiter = events.Waiter()

    def times_out_as_it_is_woken(timeout: float | None = None) -> bool:
        waiter.event.set()  # the notification lands...
        return False  # ...as the timeout fires

    waiter.event.wait = times_out_as_it_is_woken  # type: ignore[method-assign]

    assert waiter.wait(1.0)  # reported: the caller re-reads the job now


def _received(listener, count: int) -> list[str]:
    received = []
    while len(received) < count:
        message = listener.get_message(timeout=5)
        assert message is not None, f"only {len(received)} of {count} changes arrived"
        received.append(message["data"].decode())
    return received


def _listening(app):
    listener = redis.Redis.from_url(app.config["REDIS_URL"]).pubsub()
    listener.subscribe(events.CHANNEL)
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    return listener


def test_changes_go_out_in_commit_order_and_a_dead_redis_loses_only_the_wake_up(make_app, capfd):
    """The background notifier sends each change once, in the order handed over (a burst in
    one pipeline); a process whose Redis is gone logs and goes on."""
    app = make_app()
    listener = _listening(app)
    job_id = uuid.uuid4()

    with app.app_context():
        for version in range(1, 51):
            events.notify(job_id, version)
        assert events.flush_notifications(5)
    assert _received(listener, 50) == [f"{job_id}:{version}" for version in range(1, 51)]
    listener.close()

    gone = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with gone.app_context():
        events.notify(job_id, 51)
        assert events.flush_notifications(10)  # tried, refused: nothing left pending
    assert "could not publish 1 job change(s)" in capfd.readouterr().err


def test_the_notifier_starts_again_after_idling_and_after_failing_to_start(
    make_app, monkeypatch, capfd
):
    app = make_app()
    listener = _listening(app)
    job_id = uuid.uuid4()
    monkeypatch.setattr(events.Notifier, "IDLE_SECONDS", 0.05)

    with app.app_context():
        events.notify(job_id, 1)
        notifier = app.extensions["job_notifier"]
        assert events.flush_notifications(5)
        wait_until(lambda: notifier._thread is None, 5, "the idle notifier to end")
        events.notify(job_id, 2)  # a new thread for a new change
        assert events.flush_notifications(5)

        real_start = threading.Thread.start

        def refuse(thread: threading.Thread) -> None:
            if thread.name == "job-notifier":
                raise RuntimeError("can't start new thread")
            real_start(thread)

        wait_until(lambda: notifier._thread is None, 5, "the idle notifier to end")
        monkeypatch.setattr(threading.Thread, "start", refuse)
        events.notify(job_id, 3)  # no thread: kept, logged, nothing raised
        assert not events.flush_notifications(0.5)
        monkeypatch.setattr(threading.Thread, "start", real_start)
        events.notify(job_id, 4)  # the next change starts one, which sends both
        assert events.flush_notifications(5)

    assert _received(listener, 4) == [f"{job_id}:{version}" for version in (1, 2, 3, 4)]
    assert "could not start the job notifier" in capfd.readouterr().err
    listener.close()
