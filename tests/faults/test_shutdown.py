"""SIGTERM to a worker under load (a deploy): the job in hand finishes on that worker, what it
had not started goes back to the queue, and the next worker runs the rest: nothing lost, no
attempt wasted, no email sent twice. (SIGTERM to gunicorn: `tests/test_gunicorn.py`.)"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from tests.conftest import free_port, wait_for_job
from tests.faults.conftest import BeatProcess, DrainedWorker, record
from tests.faults.test_workers import DEFAULTS, ONE_MINUTE, sent_twice, submit_inquiries
from tests.support.fake_smtp import FakeSmtpServer
from tests.test_job_lifecycle import smtp_env


def worker_sigtermed_under_load(make_app, base_env, jobs: int, settings: dict[str, str]):
    with FakeSmtpServer(free_port()) as smtp, contextlib.ExitStack() as processes:
        env = {**base_env, **smtp_env(smtp.port), **settings}
        client = make_app(**env).test_client()
        smtp.handler.stall.set()
        smtp.handler.accept_after_stall = True  # a slow send that succeeds once released
        processes.callback(BeatProcess(env).stop)
        first = DrainedWorker(env)
        processes.callback(first.stop)
        locations = submit_inquiries(client, jobs)
        assert smtp.handler.entered_data.wait(30), "the worker never reached SMTP"

        os.kill(first.process.pid, signal.SIGTERM)  # the main process only, as docker stop
        while not any("Warm shutdown" in line for line in first.lines):
            assert first.process.poll() is None, "".join(first.lines)
            time.sleep(0.1)
        smtp.handler.release.set()  # the job in hand completes on the stopping worker
        assert first.process.wait(60) == 0, "".join(first.lines)

        started = time.monotonic()
        processes.callback(DrainedWorker(env).stop)
        finished = [wait_for_job(client, url, timeout=ONE_MINUTE + 30) for url in locations]
        recovery = time.monotonic() - started

    lost = sum(job["status"] != "succeeded" for job in finished)
    duplicated = sent_twice(smtp) + sum(job["attempts"] - 1 for job in finished)
    record(
        f"worker SIGTERMed with {jobs} jobs in hand",
        ran=f"{jobs} email jobs ({2 * jobs} emails)",
        lost=lost,
        duplicated=duplicated,
        recovery_seconds=recovery,
        notes="warm shutdown; lease {JOB_LEASE_SECONDS} s".format(**{**DEFAULTS, **settings}),
    )
    assert lost == 0, [job for job in finished if job["status"] != "succeeded"]
    assert duplicated == 0  # every job at its first attempt: a deploy costs no retry
    assert len(smtp.handler.messages) == 2 * jobs


@pytest.mark.slow  # CI: one job, tests/test_job_lifecycle.py
@pytest.mark.timeout(300)
def test_a_sigtermed_worker_with_50_jobs_loses_none(make_app, base_env):
    worker_sigtermed_under_load(make_app, base_env, jobs=50, settings={})
