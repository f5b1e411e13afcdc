"""The lifecycle every job task shares: claim, run, record the outcome, retry or give up.

A job handler is a plain function `handler(run) -> result` in a feature's service module; it
raises `JobFailed` for permanent failures and lets `IntegrationError` tell transient outside
errors (retried with exponential backoff and jitter) from permanent ones.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from api.integrations.errors import IntegrationError
from api.jobs import service as jobs
from api.jobs.errors import JobFailed, JobSuperseded
from api.jobs.kinds import JobKind
from api.jobs.service import JobRun

log = logging.getLogger(__name__)

Handler = Callable[[JobRun], dict[str, Any]]


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    base = current_app.config["JOB_RETRY_BASE_SECONDS"]
    ceiling = min(current_app.config["JOB_RETRY_MAX_SECONDS"], base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_or_fail(task: Task, run: JobRun, code: str, message: str) -> None:
    if run.attempt >= current_app.config["JOB_MAX_ATTEMPTS"]:
        jobs.fail(run, code, f"{message} (gave up after {run.attempt} attempts)")
        return
    delay = backoff_seconds(run.attempt)
    log.warning("job %s attempt %s: %s; retrying in %.1fs", run.id, run.attempt, code, delay)
    if jobs.schedule_retry(run, delay):
        raise task.retry(countdown=delay, max_retries=None)


def execute(task: Task, job_id: uuid.UUID, handler: Handler) -> None:
    run = jobs.claim(job_id)
    if run is None:
        log.info("job %s: nothing to claim (finished, canceled or held by a live worker)", job_id)
        return
    if run.attempt > current_app.config["JOB_MAX_ATTEMPTS"]:
        # Poison job: earlier attempts died with their worker (hard time limit, OOM, SIGKILL).
        jobs.fail(run, "too_many_attempts", "The job was interrupted too many times.")
        return
    try:
        result = handler(run)
    except JobSuperseded:
        return
    except JobFailed as exc:
        jobs.fail(run, exc.code, exc.message)
        return
    except IntegrationError as exc:
        if not exc.retryable:
            jobs.fail(run, exc.code, exc.message)
            return
        _retry_or_fail(task, run, exc.code, exc.message)
        return
    except SoftTimeLimitExceeded:
        _retry_or_fail(task, run, "timeout", "The job ran past its time limit.")
        return
    except Exception:
        log.exception("job %s attempt %s crashed", run.id, run.attempt)
        jobs.fail(run, "internal_error", "An unexpected error stopped this job.")
        return
    jobs.complete(run, result)


def job_task(kind: JobKind, *, soft_time_limit: int, time_limit: int) -> Callable[[Handler], Task]:
    """Turn a handler into the Celery task for `kind`, with the shared lifecycle."""

    def register(handler: Handler) -> Task:
        @shared_task(
            name=kind.task,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            max_retries=None,
        )
        def run_job(self: Task, job_id: str) -> None:
            execute(self, uuid.UUID(job_id), handler)

        return run_job

    return register
