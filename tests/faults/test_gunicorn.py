"""SIGTERM to gunicorn (the Procfile's web command: gevent workers) with submissions in flight
and more arriving: every request is either answered 202, its job then finishing, or refused
(never accepted and dropped). Some requests are proven in flight (a worker answered their
`Expect: 100-continue`) when the signal arrives; the rest race the closing listener.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import free_port, sql, wait_for_job
from tests.faults.conftest import DrainedWorker, record
from tests.faults.test_workers import ONE_MINUTE
from tests.test_gunicorn import gunicorn, wait_until_live
from tests.test_inquiries import VALID

IN_FLIGHT, RACING = 10, 8  # requests held open; clients submitting in a loop
IO_TIMEOUT = 40.0  # above gunicorn's graceful_timeout (35 s): only a hang exceeds it


def request_head(number: int, expect_continue: bool) -> tuple[bytes, bytes]:
    body = json.dumps({**VALID, "email": f"guest{number}@example.com"}).encode()
    head = (
        b"POST /api/v1/inquiries HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n".encode()
        + (b"Expect: 100-continue\r\n" if expect_continue else b"")
        + b"\r\n"
    )
    return head, body


def read_answer(connection: socket.socket) -> tuple[str, str | None]:
    """('202', Location) or ('cut', None): the connection closed or reset without an answer."""
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    if b"\r\n\r\n" not in answer:
        return "cut", None
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = head[0].split(" ")[1]
    location = next(
        (line.split(":", 1)[1].strip() for line in head if line.lower().startswith("location:")),
        None,
    )
    return status, location


def submit_until_refused(
    port: int, racer: int, go: threading.Event
) -> list[tuple[str, str | None]]:
    """One client submitting again and again from the signal on, until gunicorn refuses it
    (or IO_TIMEOUT passes): load across the whole shutdown, up to the listener closing."""
    go.wait(IO_TIMEOUT)
    outcomes: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        except ConnectionRefusedError:
            outcomes.append(("refused", None))
            return outcomes
        with connection:
            head, body = request_head(1000 * (racer + 1) + len(outcomes), expect_continue=False)
            try:
                connection.sendall(head + body)
                outcomes.append(read_answer(connection))
            except (ConnectionResetError, BrokenPipeError):
                outcomes.append(("cut", None))
    return outcomes


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_to_gunicorn_under_load_answers_or_refuses_every_submission(make_app, base_env):
    port = free_port()
    env = {**base_env, "WEB_CONCURRENCY": "2"}
    client = make_app(**env).test_client()
    with gunicorn(env, port) as server, contextlib.ExitStack() as processes:
        wait_until_live(server, port)
        assert server.stdout is not None
        threading.Thread(target=lambda: list(server.stdout or ()), daemon=True).start()
        processes.callback(DrainedWorker(env).stop)

        in_flight = []
        for number in range(IN_FLIGHT):
            connection = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
            head, body = request_head(number, expect_continue=True)
            connection.sendall(head)
            # A worker has parsed the request: it is in flight, waiting for its body.
            assert connection.recv(64).startswith(b"HTTP/1.1 100 Continue")
            connection.sendall(body[:10])
            in_flight.append((connection, body))

        go = threading.Event()
        with ThreadPoolExecutor(RACING) as pool:
            racing = [pool.submit(submit_until_refused, port, racer, go) for racer in range(RACING)]
            go.set()  # the racing submissions start as the signal is sent
            os.kill(server.pid, signal.SIGTERM)
            signalled = time.monotonic()
            outcomes = []
            for connection, body in in_flight:
                with connection:
                    connection.sendall(body[10:])
                    outcomes.append(read_answer(connection))
            for future in racing:
                outcomes += future.result(timeout=2 * IO_TIMEOUT)
        assert server.wait(ONE_MINUTE) == 0
        stopped = time.monotonic() - signalled

        accepted = [location for status, location in outcomes if status == "202"]
        finished = [
            wait_for_job(client, location, timeout=ONE_MINUTE + 30) for location in accepted
        ]
        recovery = time.monotonic() - signalled

    kinds = Counter(status for status, _ in outcomes)
    [(jobs,)] = sql(client.application, "SELECT count(*) FROM jobs")
    per_guest = sql(client.application, "SELECT email, count(*) FROM inquiries GROUP BY email")
    unanswered_jobs = int(jobs) - len(accepted)  # accepted by the app, the answer never sent
    lost = sum(job["status"] != "succeeded" for job in finished) + max(0, unanswered_jobs)
    duplicated = sum(int(count) - 1 for _, count in per_guest)
    record(
        "SIGTERM to gunicorn under load",
        ran=f"{len(outcomes)} submissions ({IN_FLIGHT} in flight, {RACING} clients submitting "
        "until refused): " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())),
        lost=lost,
        duplicated=duplicated,
        recovery_seconds=recovery,
        notes=f"gevent, 2 workers; stopped {stopped:.1f} s after SIGTERM, exit 0; "
        "'cut': the kernel had the connection, the app never did (no job)",
    )
    # In flight when the signal came: every one finished and answered.
    assert [status for status, _ in outcomes[:IN_FLIGHT]] == ["202"] * IN_FLIGHT
    # Arriving with it: answered, refused, or cut before any worker took it: nothing between.
    assert set(kinds) <= {"202", "refused", "cut"}, kinds
    assert kinds["refused"] == RACING  # each client ended refused: the listener did close
    assert unanswered_jobs == 0  # no job without its 202: a cut request never reached the app
    assert lost == 0, [job for job in finished if job["status"] != "succeeded"]
    assert duplicated == 0
